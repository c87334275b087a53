"""``trackai plan …``, ``trackai subscription …`` and ``trackai billing …`` (issue 18, docs/billing.md).

- ``trackai plan set CODE --name … --quota N --base-price BRL --overage-per-1000 BRL --policy warn|block``,
  ``trackai plan list``, ``trackai plan retire CODE``
- ``trackai subscription set --tenant ID --plan CODE [--at ISO]``, ``trackai subscription show --tenant ID``
- ``trackai billing invoice --tenant ID --period YYYY-MM [--json]``, ``trackai billing usage --tenant ID``,
  ``trackai billing close --period YYYY-MM``, ``trackai billing reconcile [--period YYYY-MM]…``
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


def _at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # a wall-clock time is São Paulo's (the billing calendar)
        from trackai.core.billing import TZ

        parsed = parsed.replace(tzinfo=TZ)
    return parsed


def _brl(value: str) -> Decimal:
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"not an amount: {value!r}") from exc
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError("amounts are BRL with at most 2 decimals, not negative")
    return amount


def _period(value: str) -> str:
    from trackai.core.billing import parse_period

    try:
        parse_period(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def register(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser("plan", help="billing plans: quota, base price, overage per 1,000, policy")
    pa = plan.add_subparsers(dest="plan_command", metavar="ACTION")
    pa.required = True
    s = pa.add_parser("set", help="create or change a plan (existing subscriptions keep their terms)")
    s.add_argument("code")
    s.add_argument("--name", required=True)
    s.add_argument("--quota", type=int, required=True, help="billable events per month")
    s.add_argument("--base-price", type=_brl, required=True, help="monthly fee in BRL, e.g. 49.90")
    s.add_argument("--overage-per-1000", type=_brl, required=True, help="BRL per 1,000 events over the quota")
    s.add_argument("--policy", choices=("warn", "block"), required=True, help="at quota: warn only, or hold")
    s.set_defaults(handler=_plan_set)
    ls = pa.add_parser("list", help="list plans")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_plan_list)
    r = pa.add_parser("retire", help="no new subscription may use it")
    r.add_argument("code")
    r.set_defaults(handler=_plan_retire)

    subs = sub.add_parser("subscription", help="a tenant's effective-dated plan")
    sa = subs.add_subparsers(dest="subscription_command", metavar="ACTION")
    sa.required = True
    s = sa.add_parser("set", help="put a tenant on a plan from --at (default now)")
    s.add_argument("--tenant", required=True)
    s.add_argument("--plan", required=True)
    s.add_argument("--at", type=_at, default=None, help="ISO time; without offset: São Paulo time")
    s.add_argument("--actor", default="operator")
    s.set_defaults(handler=_subscription_set)
    s = sa.add_parser("show", help="a tenant's subscriptions")
    s.add_argument("--tenant", required=True)
    s.set_defaults(handler=_subscription_show)

    billing = sub.add_parser("billing", help="usage, invoices, period close, reconciliation")
    ba = billing.add_subparsers(dest="billing_command", metavar="ACTION")
    ba.required = True
    s = ba.add_parser("invoice", help="a tenant's invoice for a period (BRL)")
    s.add_argument("--tenant", required=True)
    s.add_argument("--period", type=_period, required=True, help="YYYY-MM (São Paulo calendar month)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=_invoice)
    s = ba.add_parser("usage", help="a tenant's usage, quota and state")
    s.add_argument("--tenant", required=True)
    s.add_argument("--period", type=_period, default=None)
    s.set_defaults(handler=_usage)
    s = ba.add_parser("close", help="close an ended period: audit period_close + invoice per tenant")
    s.add_argument("--period", type=_period, required=True)
    s.set_defaults(handler=_close)
    s = ba.add_parser("reconcile", help="billed usage vs distinct accepted event_ids (exit 1 on a mismatch)")
    s.add_argument("--period", type=_period, action="append", default=[])
    s.set_defaults(handler=_reconcile)


def _dump(value) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _plan_set(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import plans

    with db.connect(db.database_url()) as conn:
        _dump(
            plans.upsert_plan(
                conn,
                args.code,
                name=args.name,
                monthly_quota=args.quota,
                base_price_brl=args.base_price,
                overage_per_1000_brl=args.overage_per_1000,
                policy=args.policy,
            )
        )
    return 0


def _plan_list(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import plans

    with db.connect(db.database_url()) as conn:
        rows = plans.list_plans(conn)
    if args.json:
        _dump(rows)
        return 0
    print(f"{'code':16} {'name':22} {'quota':>10} {'base BRL':>10} {'over/1000':>10}  policy  active")
    for r in rows:
        print(
            f"{r['plan_code']:16} {r['name'][:22]:22} {r['monthly_quota']:>10,} {r['base_price_brl']!s:>10} "
            f"{r['overage_per_1000_brl']!s:>10}  {r['policy']:6}  {'yes' if r['active'] else 'no'}"
        )
    return 0


def _plan_retire(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import plans

    with db.connect(db.database_url()) as conn:
        if not plans.retire_plan(conn, args.code):
            raise ValueError(f"unknown plan {args.code!r}")
    print(f"plan {args.code} retired")
    return 0


def _subscription_set(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import plans

    with db.connect(db.database_url()) as conn:
        _dump(plans.set_subscription(conn, args.tenant, args.plan, effective_at=args.at, actor=args.actor))
    return 0


def _subscription_show(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import plans

    with db.connect(db.database_url()) as conn:
        subs = plans.subscriptions_of(conn, args.tenant)
    _dump(
        [
            {
                "subscription_id": s.subscription_id,
                "effective_at": s.effective_at.isoformat(),
                **vars(s.terms),
            }
            for s in subs
        ]
    )
    return 0


def _invoice(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import invoices

    with db.connect(db.database_url()) as conn:
        inv = invoices.invoice_for(conn, args.tenant, args.period)
    if args.json:
        _dump({"tenant_id": args.tenant, **inv.as_dict()})
        return 0
    print(format_invoice(args.tenant, inv))
    return 0


def format_invoice(tenant_id: str, inv) -> str:
    """The readable table of an invoice (the same numbers as --json)."""
    lines = [
        f"Invoice  tenant {tenant_id}  period {inv.period}  (BRL)",
        f"usage {inv.used:,} billable events; quota {inv.quota if inv.quota is not None else '-'}; "
        f"over quota {inv.overage_events:,}",
        f"{'line':52} {'qty':>8} {'unit BRL':>12} {'amount BRL':>12}",
    ]
    for ln in inv.lines:
        unit = ln.unit_price_brl.quantize(Decimal("0.0001"))
        lines.append(f"{ln.description[:52]:52} {ln.quantity!s:>8} {unit!s:>12} {ln.amount_brl!s:>12}")
    lines.append(f"{'total':52} {'':>8} {'':>12} {inv.total_brl!s:>12}")
    lines.append("rounding: each line to centavos ROUND_HALF_UP; total = sum of the lines")
    return "\n".join(lines)


def _usage(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import ledger, plans
    from trackai.core import billing as rules

    now = datetime.now(UTC)
    period = args.period or rules.period_of(now)
    with db.connect(db.database_url()) as conn:
        used = ledger.used(conn, args.tenant, period)
        terms = plans.terms_now(conn, args.tenant, min(now, rules.period_bounds(period)[1]))
        held = conn.execute(
            "SELECT count(*) FROM ops.dispatch_queue WHERE tenant_id = %s AND status = 'quota_held'",
            (args.tenant,),
        ).fetchone()[0]
    _dump(
        {
            "tenant_id": args.tenant,
            "period": period,
            "used": used,
            "quota": terms.monthly_quota if terms else None,
            "plan_code": terms.plan_code if terms else None,
            "policy": terms.policy if terms else None,
            "state": rules.quota_state(used, terms),
            "held": held,
        }
    )
    return 0


def _close(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import invoices

    with db.connect(db.database_url()) as conn:
        _dump(invoices.close_period(conn, args.period))
    return 0


def _reconcile(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.billing import reconcile

    with db.connect(db.database_url()) as conn:
        rows = reconcile.reconcile(conn, args.period or None)
    _dump(rows)
    return 0 if all(r["ok"] for r in rows) else 1
