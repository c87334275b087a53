"""Replay from the console: the same path as ``trackai dlq replay`` (``trackai.dispatch.replay``), limited to
what is safe to send again, and recorded.

In the request's tenant transaction (row-level security: only this tenant's DLQ is visible):
1. lock the requested open DLQ entries and their queue rows (FOR UPDATE: two clicks, two tabs or two users
   replaying at once serialise here, and the second finds them replayed already);
2. keep only events Meta never accepted (the queue row has no sent_at) and that sit in the DLQ;
3. hand exactly those event ids to ``trackai.dispatch.replay`` (never an empty list: that would mean
   "all"), which re-queues them with the same event_id unless the purchase's verification holds them
   (reported as refused, "unverified"); ``replay``'s forced re-send of an already sent event can
   therefore never happen from here;
4. write who asked, what was replayed and what was refused to console.audit_log, in the same transaction.
The dispatcher sends the re-queued events on its next run; the outcome page follows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from trackai.dispatch import replay as dispatch_replay


@dataclass(frozen=True)
class ReplayOutcome:
    audit_id: int
    replayed: list[str]
    refused: dict[str, str]  # event_id -> "accepted" | "not_open" | "unverified"
    past_deadline: int


def replay(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    user_id: str,
    user_email: str,
    event_ids: list[str] | None = None,
    since: datetime | None = None,
) -> ReplayOutcome:
    """Replay the named open DLQ events, or every open one created since ``since`` (one of the two)."""
    if not event_ids and since is None:
        raise ValueError("name the events to replay or give a date")
    sql = """SELECT d.event_id, q.status, q.sent_at FROM ops.dlq d
               JOIN ops.dispatch_queue q ON q.event_id = d.event_id
              WHERE d.tenant_id = %s AND d.replayed_at IS NULL"""
    params: list = [tenant_id]
    if event_ids:
        sql += " AND d.event_id = ANY(%s)"
        params.append(list(event_ids))
    if since is not None:
        sql += " AND d.created_at >= %s"
        params.append(since)
    with conn.transaction():
        rows = conn.execute(sql + " ORDER BY d.event_id FOR UPDATE OF d, q", params).fetchall()
        eligible = [r["event_id"] for r in rows if r["status"] == "dlq" and r["sent_at"] is None]
        refused = {r["event_id"]: "accepted" for r in rows if r["event_id"] not in eligible}
        for event_id in event_ids or []:
            if event_id not in eligible and event_id not in refused:
                refused[event_id] = "not_open"
        result: dict = {"replayed": 0, "past_deadline": 0, "event_ids": []}
        if eligible:
            factory, conn.row_factory = conn.row_factory, tuple_row  # the library reads tuple rows
            try:
                result = dispatch_replay(conn, tenant_id=tenant_id, event_ids=eligible)
            finally:
                conn.row_factory = factory
        for event_id in result.get("held_unverified", []):  # the purchase's verification holds it back
            refused[event_id] = "unverified"
        detail = {
            "replayed": result["event_ids"],
            "refused": refused,
            "past_deadline": result["past_deadline"],
            "since": since.isoformat() if since else None,
        }
        audit_id = conn.execute(
            """INSERT INTO console.audit_log (tenant_id, user_id, user_email, action, detail)
               VALUES (%s, %s, %s, 'replay', %s) RETURNING audit_id""",
            (tenant_id, user_id, user_email, Jsonb(detail)),
        ).fetchone()["audit_id"]
    return ReplayOutcome(audit_id, result["event_ids"], refused, result["past_deadline"])
