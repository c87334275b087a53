"""Plans and effective-dated subscriptions (``trackai plan …``, ``trackai subscription set``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg

from trackai.billing import ledger, notify
from trackai.core import billing as rules

_TERMS = "plan_code, plan_name, monthly_quota, base_price_brl, overage_per_1000_brl, policy"


def upsert_plan(
    conn: psycopg.Connection,
    plan_code: str,
    *,
    name: str,
    monthly_quota: int,
    base_price_brl: Decimal,
    overage_per_1000_brl: Decimal,
    policy: str,
) -> dict:
    """Create or change a plan. Existing subscriptions keep the terms they copied; new ones get these."""
    rules.Terms(
        plan_code, name, monthly_quota, Decimal(base_price_brl), Decimal(overage_per_1000_brl), policy
    )
    row = conn.execute(
        """INSERT INTO billing.plans (plan_code, name, monthly_quota, base_price_brl, overage_per_1000_brl, policy)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (plan_code) DO UPDATE SET name = EXCLUDED.name, monthly_quota = EXCLUDED.monthly_quota,
                  base_price_brl = EXCLUDED.base_price_brl, overage_per_1000_brl = EXCLUDED.overage_per_1000_brl,
                  policy = EXCLUDED.policy, active = true, updated_at = now()
           RETURNING plan_code""",
        (plan_code, name, monthly_quota, Decimal(base_price_brl), Decimal(overage_per_1000_brl), policy),
    ).fetchone()
    return get_plan(conn, row[0])


def get_plan(conn: psycopg.Connection, plan_code: str) -> dict | None:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT plan_code, name, monthly_quota, base_price_brl, overage_per_1000_brl, policy, active
                 FROM billing.plans WHERE plan_code = %s""",
            (plan_code,),
        ).fetchone()


def list_plans(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT plan_code, name, monthly_quota, base_price_brl, overage_per_1000_brl, policy, active
                 FROM billing.plans ORDER BY monthly_quota, plan_code"""
        ).fetchall()


def retire_plan(conn: psycopg.Connection, plan_code: str) -> bool:
    """No new subscription may use it; the tenants on it keep it."""
    return (
        conn.execute(
            "UPDATE billing.plans SET active = false, updated_at = now() WHERE plan_code = %s", (plan_code,)
        ).rowcount
        == 1
    )


def subscriptions_of(conn: psycopg.Connection, tenant_id: str) -> list[rules.Subscription]:
    rows = conn.execute(
        f"""SELECT {_TERMS}, effective_at, subscription_id FROM billing.subscriptions
             WHERE tenant_id = %s ORDER BY effective_at""",
        (tenant_id,),
    ).fetchall()
    return [rules.Subscription(rules.Terms(*r[:6]), r[6], r[7]) for r in rows]


def terms_now(conn: psycopg.Connection, tenant_id: str, at: datetime) -> rules.Terms | None:
    """The terms in force at ``at`` (one indexed row)."""
    row = conn.execute(
        f"""SELECT {_TERMS} FROM billing.subscriptions WHERE tenant_id = %s AND effective_at <= %s
             ORDER BY effective_at DESC LIMIT 1""",
        (tenant_id, at),
    ).fetchone()
    return rules.Terms(*row) if row else None


class PlanError(ValueError):
    pass


def set_subscription(
    conn: psycopg.Connection,
    tenant_id: str,
    plan_code: str,
    *,
    effective_at: datetime | None = None,
    actor: str = "operator",
) -> dict:
    """Put a tenant on a plan from ``effective_at`` (default now); one transaction with the audit row.

    The period's counter row is locked first (``ledger.lock_counter``), the same row the dispatcher locks
    when it records a success, so a plan change and a recorded success serialise: the change sees the
    exact usage at that instant and a success after it sees the new terms (threshold notices included).
    """
    effective_at = effective_at or rules.utc_now()
    period = rules.period_of(effective_at)
    with conn.transaction():
        plan = conn.execute(
            "SELECT plan_code, name, monthly_quota, base_price_brl, overage_per_1000_brl, policy, active"
            " FROM billing.plans WHERE plan_code = %s FOR SHARE",
            (plan_code,),
        ).fetchone()
        if plan is None:
            raise PlanError(f"unknown plan {plan_code!r}")
        if not plan[6]:
            raise PlanError(f"plan {plan_code!r} is retired")
        if not conn.execute("SELECT 1 FROM core.tenants WHERE tenant_id = %s", (tenant_id,)).fetchone():
            raise PlanError(f"unknown tenant {tenant_id}")
        used = ledger.lock_counter(conn, tenant_id, period)
        before = terms_now(conn, tenant_id, effective_at)
        new = rules.Terms(*plan[:6])
        try:
            with conn.transaction():
                sub_id = conn.execute(
                    f"""INSERT INTO billing.subscriptions ({_TERMS}, tenant_id, effective_at, actor)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING subscription_id""",
                    (*plan[:6], tenant_id, effective_at, actor),
                ).fetchone()[0]
        except psycopg.errors.UniqueViolation as exc:
            raise PlanError(
                f"tenant already has a subscription effective at {effective_at.isoformat()}"
            ) from exc
        direction = (
            "new"
            if before is None
            else "upgrade"
            if new.monthly_quota > before.monthly_quota
            else "downgrade"
            if new.monthly_quota < before.monthly_quota
            else "change"
        )
        details = {
            "subscription_id": sub_id,
            "from": before.plan_code if before else None,
            "to": new.plan_code,
            "direction": direction,
            "effective_at": effective_at.isoformat(),
            "quota_before": before.monthly_quota if before else None,
            "policy": new.policy,
            "state_after": rules.quota_state(used, new),
        }
        ledger.audit(
            conn, tenant_id, period, "plan_change", actor, quota=new.monthly_quota, used=used, details=details
        )
        now = rules.utc_now()
        notices = ledger.check_thresholds(conn, tenant_id, period, used, now) if effective_at <= now else []
    notify.send_notices(notices)
    return {"tenant_id": tenant_id, "period": period, "plan_code": plan_code, "used": used, **details}
