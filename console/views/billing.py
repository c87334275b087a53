"""Plan and usage (issue 18, docs/billing.md): the usage bar of the current period, the plan in force, the
subscriptions, the billing history (the append-only audit trail) and the invoices of the last periods.

Everything is read in the request's tenant transaction (row-level security of sql/0602 on the billing tables,
sql/1200); plans have no tenant column, so the terms shown are those copied into the subscription. Amounts
come from ``trackai.core.billing.invoice`` (the one copy of the rules). ``banner`` is the quota banner every
page shows from 80 % of the quota (a Jinja global installed by console/app.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import web
from trackai.core import billing as rules

router = APIRouter()
INVOICE_PERIODS = 3
HISTORY_ROWS = 30
_TERMS = "plan_code, plan_name, monthly_quota, base_price_brl, overage_per_1000_brl, policy"


def _tuples(conn: psycopg.Connection) -> psycopg.Cursor:
    return conn.cursor(row_factory=psycopg.rows.tuple_row)  # the console's pool hands out dict rows


def _subscriptions(conn: psycopg.Connection, tenant_id: str) -> list[rules.Subscription]:
    rows = (
        _tuples(conn)
        .execute(
            f"SELECT {_TERMS}, effective_at, subscription_id FROM billing.subscriptions WHERE tenant_id = %s"
            " ORDER BY effective_at",
            (tenant_id,),
        )
        .fetchall()
    )
    return [rules.Subscription(rules.Terms(*r[:6]), r[6], r[7]) for r in rows]


def _used(conn: psycopg.Connection, tenant_id: str, periods: list[str]) -> dict[str, int]:
    rows = (
        _tuples(conn)
        .execute(
            "SELECT period, used FROM billing.usage_counters WHERE tenant_id = %s AND period = ANY(%s)",
            (tenant_id, periods),
        )
        .fetchall()
    )
    return {p: u for p, u in rows}


def usage_state(conn: psycopg.Connection, tenant_id: str, now: datetime) -> dict:
    """The current period's usage, terms in force, state and held events (one tenant, RLS-bound)."""
    period = rules.period_of(now)
    row = (
        _tuples(conn)
        .execute(
            f"""SELECT (SELECT used FROM billing.usage_counters WHERE tenant_id = %(t)s AND period = %(p)s),
                   s.{_TERMS.replace(", ", ", s.")},
                   (SELECT count(*) FROM ops.dispatch_queue q WHERE q.tenant_id = %(t)s AND q.status = 'quota_held')
              FROM (SELECT 1) one
              LEFT JOIN LATERAL (SELECT * FROM billing.subscriptions WHERE tenant_id = %(t)s
                                   AND effective_at <= %(now)s ORDER BY effective_at DESC LIMIT 1) s ON true""",
            {"t": tenant_id, "p": period, "now": now},
        )
        .fetchone()
    )
    used = row[0] or 0
    terms = rules.Terms(*row[1:7]) if row[1] else None
    return {
        "period": period,
        "used": used,
        "terms": terms,
        "state": rules.quota_state(used, terms),
        "held": row[7],
        "pct": (used * 100 // terms.monthly_quota) if terms else None,
    }


def banner(request: Request) -> dict | None:
    """The quota banner of the page (None below 80 % or without a plan); never breaks a page."""
    user = web.optional_user(request)
    tenant_id = user.tenant_in_view if user else None
    if not tenant_id:
        return None
    try:
        with web.state(request).database.tenant_tx(tenant_id) as conn:
            usage = usage_state(conn, tenant_id, datetime.now(UTC))
    except psycopg.Error:
        return None
    if usage["state"] in ("ok", "no_plan"):
        return None
    return usage


@router.get("/billing")
def billing(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    now = datetime.now(UTC)
    periods = [rules.period_of(now)]
    while len(periods) < INVOICE_PERIODS:
        periods.append(rules.previous_period(periods[-1]))
    with s.database.tenant_tx(tenant_id) as conn:
        usage = usage_state(conn, tenant_id, now)
        subs = _subscriptions(conn, tenant_id)
        used = _used(conn, tenant_id, periods)
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            history = cur.execute(
                """SELECT period, kind, threshold_pct, quota, used, details, created_at FROM billing.billing_events
                    WHERE tenant_id = %s ORDER BY created_at DESC, billing_event_id DESC LIMIT %s""",
                (tenant_id, HISTORY_ROWS),
            ).fetchall()
    invoices = [rules.invoice(p, subs, used.get(p, 0)) for p in periods]
    return web.render(
        request,
        "billing.html",
        nav="billing",
        usage=usage,
        subscriptions=list(reversed(subs)),
        history=history,
        invoices=[inv for inv in invoices if inv.lines or inv.used],
        current_period=periods[0],
    )
