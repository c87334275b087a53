"""Retention of what ingest keeps for re-processing (issue 23, docs/privacy.md "Retention"): quarantined
webhook bodies (Fernet ciphertext of the raw body, which holds the buyer's plaintext) are deleted once
older than ``TRACKAI_PRIVACY_QUARANTINE_RETENTION_DAYS``. Landing rows past the hot window leave Postgres
through the Parquet archive (``trackai.lifecycle.archive.retain``), which follows erasure requests
(``trackai.privacy.archive``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from trackai.settings import Settings, get_settings


def expire_quarantine(
    conn: psycopg.Connection, settings: Settings | None = None, now: datetime | None = None
) -> int:
    """Delete quarantined bodies received before now - retention; returns how many."""
    settings = settings or get_settings()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.privacy.quarantine_retention_days)
    # A SECURITY DEFINER function (sql/1301): Dagster's role has no DELETE on landing tables.
    return conn.execute("SELECT privacy.expire_quarantine(%s)", (cutoff,)).fetchone()[0]


def oldest_quarantine_age_days(conn: psycopg.Connection, now: datetime | None = None) -> float | None:
    row = conn.execute("SELECT min(received_at) FROM landing.webhook_quarantine").fetchone()
    if not row or row[0] is None:
        return None
    return round(((now or datetime.now(UTC)) - row[0]).total_seconds() / 86400, 2)
