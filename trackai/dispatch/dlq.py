"""Dead-letter queue: list and replay (``trackai dlq``; Dagster job ``dlq_replay_job``).

Replay puts events back to 'pending' (due now) so the next dispatch run sends them with the same
event_id. The payload is rebuilt from the current purchase and match (so a fixed purchase is sent
fixed); when the purchase is gone the stored payload is reused. ``event_ids`` may also name events
already 'sent': that is the only way an event is ever sent twice (an explicit replay). Events past
their deadline are re-queued too but the next run moves them straight back to the DLQ as expired.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from trackai.dispatch import store
from trackai.verification.store import DISPATCHABLE_SQL


def list_dlq(
    conn: psycopg.Connection,
    *,
    tenant_id: str | None = None,
    since: datetime | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[dict]:
    sql = """SELECT event_id, tenant_id::text, gateway, reason, error_code, error_subcode, error_title,
                    error_message, created_at, replayed_at FROM ops.dlq WHERE true"""
    params: list = []
    if not include_replayed:
        sql += " AND replayed_at IS NULL"
    if tenant_id:
        sql += " AND tenant_id = %s"
        params.append(tenant_id)
    if since:
        sql += " AND created_at >= %s"
        params.append(since)
    sql += " ORDER BY created_at DESC, event_id LIMIT %s"
    params.append(limit)
    keys = (
        "event_id",
        "tenant_id",
        "gateway",
        "reason",
        "error_code",
        "error_subcode",
        "error_title",
        "error_message",
        "created_at",
        "replayed_at",
    )
    return [dict(zip(keys, row, strict=True)) for row in conn.execute(sql, params).fetchall()]


def replay(
    conn: psycopg.Connection,
    *,
    tenant_id: str | None = None,
    event_ids: list[str] | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> dict:
    """Re-queue DLQ events (filters combine with AND); returns counts and the event ids."""
    now = now or datetime.now(UTC)
    sql = "SELECT event_id FROM ops.dlq WHERE replayed_at IS NULL"
    params: list = []
    if tenant_id:
        sql += " AND tenant_id = %s"
        params.append(tenant_id)
    if since:
        sql += " AND created_at >= %s"
        params.append(since)
    if event_ids:
        sql += " AND event_id = ANY(%s)"
        params.append(list(event_ids))
    chosen = {r[0] for r in conn.execute(sql, params).fetchall()}
    forced: set[str] = set()
    if event_ids:  # explicitly named events already sent: a deliberate re-send
        rows = conn.execute(
            "SELECT event_id FROM ops.dispatch_queue WHERE event_id = ANY(%s) AND status = 'sent'"
            + (" AND tenant_id = %s" if tenant_id else ""),
            [list(event_ids), *([tenant_id] if tenant_id else [])],
        ).fetchall()
        forced = {r[0] for r in rows} - chosen
    held = _not_dispatchable(conn, chosen | forced)
    chosen, forced = chosen - held, forced - held
    targets = sorted(chosen | forced)
    with conn.transaction():
        for event_id in targets:
            payload = store.rebuild_payload(conn, event_id)
            if payload is None:
                row = conn.execute("SELECT payload FROM ops.dlq WHERE event_id = %s", (event_id,)).fetchone()
                if row is None:
                    row = conn.execute(
                        "SELECT payload FROM ops.dispatch_queue WHERE event_id = %s", (event_id,)
                    ).fetchone()
                payload = row[0]
            conn.execute(
                """UPDATE ops.dispatch_queue SET status = 'pending', next_attempt_at = %s, payload = %s,
                          last_error = 'replay requested', updated_at = %s WHERE event_id = %s""",
                (now, Jsonb(payload), now, event_id),
            )
        if chosen:
            conn.execute(
                "UPDATE ops.dlq SET replayed_at = %s WHERE event_id = ANY(%s)", (now, sorted(chosen))
            )
    expired = conn.execute(
        "SELECT count(*) FROM ops.dispatch_queue WHERE event_id = ANY(%s) AND deadline_at <= %s",
        (targets, now),
    ).fetchone()[0]
    return {
        "replayed": len(chosen),
        "forced_resend": len(forced),
        "held_unverified": sorted(held),
        "past_deadline": expired,
        "event_ids": targets,
    }


def _not_dispatchable(conn: psycopg.Connection, event_ids: set[str]) -> set[str]:
    """Events whose purchase its verification does not let through now (issue 22, finding 3): a replay
    goes the same gate as the first enqueue, so a forged or since-changed order is never re-sent."""
    if not event_ids:
        return set()
    rows = conn.execute(
        f"""SELECT r.event_id FROM core.dedupe_registry r JOIN core.purchases p ON p.event_id = r.event_id
             WHERE r.event_id = ANY(%s) AND NOT {DISPATCHABLE_SQL}""",
        (sorted(event_ids),),
    ).fetchall()
    return {r[0] for r in rows}
