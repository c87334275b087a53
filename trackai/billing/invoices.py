"""Invoices per tenant and period (amounts by ``trackai.core.billing.invoice``, the one copy of the rule) and
period closes (audit rows ``period_close`` + ``invoice``, once per tenant and period)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from trackai.billing import ledger, plans
from trackai.core import billing as rules


def invoice_for(conn: psycopg.Connection, tenant_id: str, period: str) -> rules.Invoice:
    rules.parse_period(period)
    return rules.invoice(
        period, plans.subscriptions_of(conn, tenant_id), ledger.used(conn, tenant_id, period)
    )


def billable_tenants(conn: psycopg.Connection, period: str) -> list[str]:
    """Tenants with a subscription in force during the period or usage in it."""
    end = rules.period_bounds(period)[1]
    rows = conn.execute(
        """SELECT DISTINCT tenant_id::text FROM billing.subscriptions WHERE effective_at < %s
           UNION SELECT tenant_id::text FROM billing.usage_counters WHERE period = %s AND used > 0 ORDER BY 1""",
        (end, period),
    ).fetchall()
    return [r[0] for r in rows if r]


def close_period(
    conn: psycopg.Connection, period: str, *, now: datetime | None = None, actor: str = "operator"
) -> list[dict]:
    """Close an ended period: per tenant, audit ``period_close`` (usage, quota) and ``invoice`` (lines, total).

    Idempotent (the audit's unique index): closing twice records nothing new. The counter row is locked so
    a late success of the period cannot slip between the count and the invoice.
    """
    now = now or rules.utc_now()
    if now < rules.period_bounds(period)[1]:
        raise ValueError(f"period {period} has not ended yet")
    out = []
    for tenant_id in billable_tenants(conn, period):
        with conn.transaction():
            used = ledger.lock_counter(conn, tenant_id, period)
            inv = rules.invoice(period, plans.subscriptions_of(conn, tenant_id), used)
            closed = ledger.audit(
                conn,
                tenant_id,
                period,
                "period_close",
                actor,
                quota=inv.quota,
                used=used,
                details={"overage_events": inv.overage_events},
            )
            issued = ledger.audit(
                conn, tenant_id, period, "invoice", actor, quota=inv.quota, used=used, details=inv.as_dict()
            )
        out.append({"tenant_id": tenant_id, "closed": bool(closed), "issued": bool(issued), **inv.as_dict()})
    return out


def history(conn: psycopg.Connection, tenant_id: str, limit: int = 50) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT billing_event_id, period, kind, threshold_pct, quota, used, details, actor, created_at
                 FROM billing.billing_events WHERE tenant_id = %s ORDER BY created_at DESC, billing_event_id DESC
                LIMIT %s""",
            (tenant_id, limit),
        ).fetchall()
