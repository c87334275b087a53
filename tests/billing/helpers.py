"""Billing test helpers: plans, subscriptions, events in the queue, counts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg

from tests.support.rows import add_purchase
from trackai.billing import ledger, plans

PLANS = {
    "tiny-block": ("Tiny (block)", 5, Decimal("9.90"), Decimal("5.00"), "block"),
    "tiny-warn": ("Tiny (warn)", 5, Decimal("9.90"), Decimal("5.00"), "warn"),
    "small-block": ("Small (block)", 20, Decimal("19.90"), Decimal("5.00"), "block"),
}


def ensure_plans(conn: psycopg.Connection) -> None:
    for code, (name, quota, base, over, policy) in PLANS.items():
        plans.upsert_plan(
            conn,
            code,
            name=name,
            monthly_quota=quota,
            base_price_brl=base,
            overage_per_1000_brl=over,
            policy=policy,
        )


def subscribe(conn, tenant_id: str, plan: str, at: datetime) -> dict:
    return plans.set_subscription(conn, tenant_id, plan, effective_at=at, actor="test")


def add_events(conn, tenant_id: str, n: int, approved_at: datetime) -> list[str]:
    return [add_purchase(conn, tenant_id, approved_at=approved_at) for _ in range(n)]


def statuses(conn, event_ids: list[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) FROM ops.dispatch_queue WHERE event_id = ANY(%s) GROUP BY 1", (event_ids,)
    ).fetchall()
    return dict(rows)


def billing_events(conn, tenant_id: str, kind: str | None = None) -> list[tuple]:
    sql = "SELECT kind, threshold_pct, quota, used, details FROM billing.billing_events WHERE tenant_id = %s"
    params: list = [tenant_id]
    if kind:
        sql += " AND kind = %s"
        params.append(kind)
    return conn.execute(sql + " ORDER BY billing_event_id", params).fetchall()


def consistent(conn, tenant_id: str, period: str) -> tuple[int, int]:
    """(counter, ledger rows) of a tenant's period: always equal."""
    return ledger.used(conn, tenant_id, period), ledger.ledger_count(conn, tenant_id, period)
