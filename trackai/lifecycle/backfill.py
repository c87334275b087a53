"""Backfill of a day older than the hot window: its landing rows come back from the Parquet archive.

The archived days the matching could read (clicks and lead identities from ``hot_window_days`` before the
day to the day after; conversions from the day on) are put back as their partitions, read from the
object store with DuckDB (``archive.rehydrate_day``); the ordinary recompute (``trackai.pipeline``) runs
on them unchanged, so it produces the matches it produced when the day was hot; then the rehydrated
partitions are dropped again through the same guard as retention (their archive is verified and the row
counts still agree). The dedupe registry is untouched by a rehydration: an event_id already registered
is never queued again, so nothing is sent twice.

Needs the owner's URL (partition DDL and loading rows into landing tables). Rows read back are visible to
other readers for the duration of the backfill, as they were when the day was hot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import psycopg

from trackai.lifecycle import archive
from trackai.lifecycle.store import ObjectStore
from trackai.settings import Settings, get_settings

# Tables the micro-batch reads, and the days around the backfilled day it may read from each.
READ_RANGES = {
    "landing.clicks": ("before", 1),
    "landing.identities": ("before", 1),
    "landing.conversions": ("after", 0),
}


@dataclass
class BackfillReport:
    day: str
    rehydrated: list[str] = field(default_factory=list)
    rows_rehydrated: int = 0
    batch: dict = field(default_factory=dict)
    dropped_again: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def archived_days(conn: psycopg.Connection, parent: str, first: date, last: date) -> list[date]:
    """Days of ``parent`` in [first, last] that are archived, verified and no longer in Postgres."""
    rows = conn.execute(
        """
        SELECT a.day FROM lifecycle.archived_partitions a
         WHERE a.parent = %s AND a.day BETWEEN %s AND %s AND a.verified_at IS NOT NULL
           AND to_regclass(split_part(a.parent, '.', 1) || '.' || split_part(a.parent, '.', 2) || '_p'
                           || to_char(a.day, 'YYYYMMDD')) IS NULL
         ORDER BY a.day
        """,
        (parent, first, last),
    ).fetchall()
    return [r[0] for r in rows]


def backfill_archived_day(
    url: str, day: date, *, settings: Settings | None = None, store: ObjectStore | None = None, params=None
) -> BackfillReport:
    from trackai.pipeline.batch import run_batch

    settings = settings or get_settings()
    store = store or ObjectStore.from_settings("archive", settings)
    window = settings.lifecycle.hot_window_days
    report = BackfillReport(day.isoformat())
    put_back: list[tuple[str, date]] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for parent, (side, extra) in READ_RANGES.items():
                first, last = (day - timedelta(days=window), day + timedelta(days=extra))
                if side == "after":
                    first, last = day - timedelta(days=1), day + timedelta(days=window)
                for d in archived_days(conn, parent, first, last):
                    report.rows_rehydrated += archive.rehydrate_day(
                        url, parent, d, settings=settings, store=store
                    )
                    put_back.append((parent, d))
                    report.rehydrated.append(f"{parent} {d.isoformat()}")
        start = datetime.combine(day, time.min, UTC)
        report.batch = run_batch(
            url, mode="recompute", window=(start, start + timedelta(days=1)), settings=params
        ).as_dict()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            for parent, d in put_back:
                conn.execute("SELECT lifecycle.drop_archived_partition(%s, %s)", (parent, d))
                report.dropped_again.append(f"{parent} {d.isoformat()}")
    return report
