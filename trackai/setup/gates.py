"""Gates a tenant passed during setup (contract C1, sql/1000_setup_assistant.sql).

Today one gate exists: ``test_capi_event`` — a test Purchase sent through the real dispatch path with
Meta's test_event_code that the Graph API reported as received (``events_received`` ≥ 1). Provisioning
(issue 17) calls :func:`latest_pass` before publishing a GTM container.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

GATES = ("test_capi_event",)


@dataclass(frozen=True)
class GatePass:
    tenant_id: str
    gate: str
    event_id: str | None
    passed_at: datetime
    actor: str


def latest_pass(conn: psycopg.Connection, tenant_id: str, gate: str = "test_capi_event") -> GatePass | None:
    """The tenant's most recent pass of ``gate``, or None when it never passed."""
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; known: {', '.join(GATES)}")
    row = conn.execute(
        """SELECT tenant_id::text, gate, event_id, passed_at, actor FROM setup.gate_passes
            WHERE tenant_id = %s AND gate = %s ORDER BY passed_at DESC, gate_pass_id DESC LIMIT 1""",
        (tenant_id, gate),
    ).fetchone()
    if row is None:
        return None
    if isinstance(row, dict):
        return GatePass(row["tenant_id"], row["gate"], row["event_id"], row["passed_at"], row["actor"])
    return GatePass(*row)


def record_pass(
    conn: psycopg.Connection,
    tenant_id: str,
    gate: str,
    event_id: str | None,
    actor: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record that ``tenant_id`` passed ``gate`` now (the caller's transaction decides when it is visible)."""
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; known: {', '.join(GATES)}")
    conn.execute(
        """INSERT INTO setup.gate_passes (tenant_id, gate, event_id, actor, details)
           VALUES (%s, %s, %s, %s, %s)""",
        (tenant_id, gate, event_id, actor, Jsonb(details or {})),
    )
