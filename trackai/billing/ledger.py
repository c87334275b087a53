"""The PII-free usage ledger and its per-period counter (contract C2), the audit trail, threshold notices.

``record_accepted`` is called by the dispatcher INSIDE the transaction that records Meta's success
(``trackai.dispatch.store.apply``): one ledger row per (tenant, event_id) the first time it is accepted
(``ON CONFLICT DO NOTHING``: a retry, a gateway duplicate, a backfill or a DLQ replay of the same event_id
adds nothing), the counter bumped by exactly the rows inserted, then the thresholds of the terms in force
checked under the counter's row lock. Test events (``is_test``) never reach it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from trackai.core import billing as rules


@dataclass(frozen=True)
class Notice:
    """A threshold reached for the first time in a period (the audit insert that won)."""

    tenant_id: str
    period: str
    threshold_pct: int
    used: int
    quota: int
    policy: str
    plan_code: str


def audit(
    conn: psycopg.Connection,
    tenant_id: str,
    period: str,
    kind: str,
    actor: str,
    *,
    quota: int | None = None,
    used: int | None = None,
    threshold_pct: int | None = None,
    details: dict | None = None,
) -> int | None:
    """Append one billing event; None when a once-only event (threshold, period close, invoice) exists."""
    conflict = ""
    if kind == "threshold":
        conflict = (
            " ON CONFLICT (tenant_id, period, threshold_pct, quota) WHERE kind = 'threshold' DO NOTHING"
        )
    elif kind in ("period_close", "invoice"):
        conflict = (
            " ON CONFLICT (tenant_id, period, kind) WHERE kind IN ('period_close', 'invoice') DO NOTHING"
        )
    row = conn.execute(
        """INSERT INTO billing.billing_events (tenant_id, period, kind, threshold_pct, quota, used, details, actor)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"""
        + conflict
        + " RETURNING billing_event_id",
        (tenant_id, period, kind, threshold_pct, quota, used, Jsonb(details or {}), actor),
    ).fetchone()
    return row[0] if row else None


def lock_counter(conn: psycopg.Connection, tenant_id: str, period: str) -> int:
    """Lock (creating it) the counter row of (tenant, period); returns ``used``. Call inside a transaction."""
    conn.execute(
        "INSERT INTO billing.usage_counters (tenant_id, period) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (tenant_id, period),
    )
    return conn.execute(
        "SELECT used FROM billing.usage_counters WHERE tenant_id = %s AND period = %s FOR UPDATE",
        (tenant_id, period),
    ).fetchone()[0]


def used(conn: psycopg.Connection, tenant_id: str, period: str) -> int:
    row = conn.execute(
        "SELECT used FROM billing.usage_counters WHERE tenant_id = %s AND period = %s", (tenant_id, period)
    ).fetchone()
    return row[0] if row else 0


def known(conn: psycopg.Connection, tenant_id: str, event_ids: Iterable[str]) -> set[str]:
    """The event_ids already in the ledger (accepted before: sending them again is free)."""
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    rows = conn.execute(
        "SELECT event_id FROM billing.usage_ledger WHERE tenant_id = %s AND event_id = ANY(%s)",
        (tenant_id, ids),
    ).fetchall()
    return {r[0] for r in rows}


def record_accepted(
    conn: psycopg.Connection, accepted: Iterable[tuple[str, str, datetime]], *, now: datetime
) -> list[Notice]:
    """Ledger + counter for (tenant_id, event_id, accepted_at) Meta accepted; returns the new threshold notices.

    Must run inside the caller's transaction (the one recording the success). Rows are inserted in event_id
    order and the counter row is locked after them, the same order for every caller, so concurrent
    recorders never deadlock; ``plans.set_subscription`` locks only the counter.
    """
    groups: dict[tuple[str, str], dict[str, datetime]] = defaultdict(dict)
    for tenant_id, event_id, at in accepted:
        seen = groups[(str(tenant_id), rules.period_of(at))]
        seen[event_id] = min(at, seen.get(event_id, at))
    notices: list[Notice] = []
    for (tenant_id, period), events in sorted(groups.items()):
        ids = sorted(events)
        inserted = conn.execute(
            """INSERT INTO billing.usage_ledger (tenant_id, event_id, period, accepted_at)
               SELECT %s, e, %s, a FROM unnest(%s::text[], %s::timestamptz[]) AS v(e, a)
               ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id""",
            (tenant_id, period, ids, [events[i] for i in ids]),
        ).fetchall()
        n = len(inserted)
        total = conn.execute(
            """INSERT INTO billing.usage_counters (tenant_id, period, used, updated_at) VALUES (%s, %s, %s, %s)
               ON CONFLICT (tenant_id, period)
               DO UPDATE SET used = billing.usage_counters.used + EXCLUDED.used, updated_at = EXCLUDED.updated_at
               RETURNING used""",
            (tenant_id, period, n, now),
        ).fetchone()[0]
        if n:
            notices += check_thresholds(conn, tenant_id, period, total, now)
    return notices


def check_thresholds(
    conn: psycopg.Connection, tenant_id: str, period: str, used_now: int, now: datetime
) -> list[Notice]:
    """Audit (once per period and quota) every threshold the usage has reached under the terms in force."""
    from trackai.billing.plans import terms_now

    at = max(now, rules.period_bounds(period)[0])
    terms = terms_now(conn, tenant_id, min(at, rules.period_bounds(period)[1]))
    if terms is None:
        return []
    notices = []
    for pct in rules.thresholds_reached(used_now, terms.monthly_quota):
        details = {"plan_code": terms.plan_code, "policy": terms.policy}
        if audit(
            conn,
            tenant_id,
            period,
            "threshold",
            "dispatch",
            quota=terms.monthly_quota,
            used=used_now,
            threshold_pct=pct,
            details=details,
        ):
            notices.append(
                Notice(tenant_id, period, pct, used_now, terms.monthly_quota, terms.policy, terms.plan_code)
            )
    return notices


def accepted_of(attempts: Iterable, sent: Iterable[str], now: datetime) -> list[tuple[str, str, datetime]]:
    """(tenant_id, event_id, accepted_at) of the billable successes among dispatch attempt rows (C2): status
    'success', not ``is_test``, and the event recorded as sent; accepted_at = the attempt's time."""
    sent = set(sent)
    return [
        (a.tenant_id, a.event_id, datetime.fromtimestamp(a.at, UTC) if a.at is not None else now)
        for a in attempts
        if a.status == "success" and not getattr(a, "is_test", False) and a.event_id in sent
    ]


def ledger_count(conn: psycopg.Connection, tenant_id: str, period: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM billing.usage_ledger WHERE tenant_id = %s AND period = %s", (tenant_id, period)
    ).fetchone()[0]
