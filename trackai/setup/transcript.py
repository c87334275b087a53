"""The transcript of every setup tool call (setup.transcript, sql/1000): who called (seller, operator,
agent), the inputs without secrets, the full answer, the tenant, the event_id when one exists, the time."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from trackai.core.setup_redact import redact
from trackai.core.setup_result import ToolResult

ACTORS = ("seller", "operator", "agent")


def record(
    conn: psycopg.Connection,
    tenant_id: str,
    result: ToolResult,
    *,
    actor: str,
    inputs: dict[str, Any],
    duration_ms: int,
    actor_label: str | None = None,
) -> int:
    if actor not in ACTORS:
        raise ValueError(f"actor must be one of {', '.join(ACTORS)}")
    row = conn.execute(
        """INSERT INTO setup.transcript (tenant_id, tool, actor, actor_label, inputs, outputs, status, code,
                                         event_id, duration_ms)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING entry_id""",
        (
            tenant_id,
            result.tool,
            actor,
            actor_label,
            Jsonb(redact(inputs)),
            Jsonb(redact(result.to_dict())),
            result.status,
            result.code,
            result.event_id,
            duration_ms,
        ),
    ).fetchone()
    return int(row["entry_id"] if isinstance(row, dict) else row[0])


def entries(
    conn: psycopg.Connection, tenant_id: str, *, limit: int = 100, tool: str | None = None
) -> list[dict[str, Any]]:
    """The tenant's latest calls, newest first (the console reads this under row-level security)."""
    sql = """SELECT entry_id, tenant_id::text AS tenant_id, tool, actor, actor_label, inputs, outputs, status, code,
                    event_id, duration_ms, created_at
               FROM setup.transcript WHERE tenant_id = %s"""
    params: list[Any] = [tenant_id]
    if tool:
        sql += " AND tool = %s"
        params.append(tool)
    sql += " ORDER BY created_at DESC, entry_id DESC LIMIT %s"
    params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()
