"""The billing step of the demo (issue 18): a tenant on a small plan goes warn → block → upgrade → release.

Real path: signed Stripe webhooks through the ingest service, the micro-batch, the dispatcher against the
Graph API fake, the ledger + counter written in the transaction that records each success, then the invoice
and the reconciliation (billed = ledger = distinct accepted event_ids). Each demo run uses a fresh tenant
(``Demo Billing <seed>``) so the story starts from zero usage; its console login is printed.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from trackai import db, tenants
from trackai.billing import invoices, ledger, plans, reconcile
from trackai.console_data.users import ensure_demo_users
from trackai.core import billing as rules
from trackai.dispatch import run_dispatch
from trackai.pipeline.batch import run_batch
from trackai.settings import get_settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

SMALL = ("demo-small", "Demo Small", 10, Decimal("29.90"), Decimal("10.00"), "block")
PLUS = ("demo-plus", "Demo Plus", 100, Decimal("99.90"), Decimal("8.00"), "block")
STRIPE_SECRET = "whsec_demo_billing"  # noqa: S105 - a demo value, never a production secret


def ensure_plans(conn) -> None:
    for code, name, quota, base, over, policy in (SMALL, PLUS):
        plans.upsert_plan(
            conn,
            code,
            name=name,
            monthly_quota=quota,
            base_price_brl=base,
            overage_per_1000_brl=over,
            policy=policy,
        )


def _post_purchases(client, tenant_id: str, seed: int, start: int, n: int) -> list[int]:
    codes = []
    for i in range(start, start + n):
        payload = build_payload(
            "stripe", order_id=f"bill-{seed}-{i}", amount=Decimal("97.00"), email=f"buyer{i}@example.com"
        )
        headers, params, body = sign_request("stripe", STRIPE_SECRET, json.dumps(payload).encode())
        resp = client.post(
            f"/api/v1/webhooks/stripe/{tenant_id}", content=body, headers=headers, params=params
        )
        codes.append(resp.status_code)
    return codes


def _wave(url: str, tenant_id: str) -> dict:
    run_batch(url, mode="incremental")
    return run_dispatch(url, tenant_id=tenant_id)


def _state(conn, tenant_id: str) -> tuple[int, rules.Terms | None, int]:
    now = datetime.now(UTC)
    used = ledger.used(conn, tenant_id, rules.period_of(now))
    held = conn.execute(
        "SELECT count(*) FROM ops.dispatch_queue WHERE tenant_id = %s AND status = 'quota_held'", (tenant_id,)
    ).fetchone()[0]
    return used, plans.terms_now(conn, tenant_id, now), held


def _thresholds(conn, tenant_id: str) -> list[int]:
    rows = conn.execute(
        "SELECT threshold_pct FROM billing.billing_events WHERE tenant_id = %s AND kind = 'threshold' "
        "ORDER BY billing_event_id",
        (tenant_id,),
    ).fetchall()
    return [r[0] for r in rows]


def run_billing_demo(url: str, client, seed: int) -> tuple[str, list[str]]:
    """Run the story; returns (tenant_id, the lines to print). ``client`` posts to the ingest service."""
    lines: list[str] = []
    with db.connect(url) as conn:
        ensure_plans(conn)
        tenant_id = tenants.create_tenant(
            conn,
            name=f"Demo Billing {seed} {uuid.uuid4().hex[:4]}",
            pixel_id="100000000000009",
            meta_token=f"demo-meta-token-billing-{seed}",
            gateway_secrets={**tenants.generated_gateway_secrets(), "stripe": STRIPE_SECRET},
        )
        plans.set_subscription(conn, tenant_id, SMALL[0], actor="demo")
        lines.append(f"tenant {tenant_id} on plan {SMALL[0]}: quota {SMALL[2]}/month, policy {SMALL[5]}")

        _post_purchases(client, tenant_id, seed, 0, 8)
        summary = _wave(url, tenant_id)
        used, terms, held = _state(conn, tenant_id)
        lines.append(
            f"warn:    {summary['sent']} sent, usage {used}/{terms.monthly_quota} "
            f"({rules.quota_state(used, terms)}), notices {_thresholds(conn, tenant_id)}%"
        )

        _post_purchases(client, tenant_id, seed, 8, 5)
        summary = _wave(url, tenant_id)
        used, terms, held = _state(conn, tenant_id)
        lines.append(
            f"block:   {summary['sent']} sent, {summary['quota_held']} held at quota, usage "
            f"{used}/{terms.monthly_quota} ({rules.quota_state(used, terms)}), notices {_thresholds(conn, tenant_id)}%"
        )

        change = plans.set_subscription(conn, tenant_id, PLUS[0], actor="demo")
        lines.append(
            f"upgrade: {change['from']} -> {change['to']} ({change['direction']}) at usage {change['used']}"
        )

        summary = run_dispatch(url, tenant_id=tenant_id)
        used, terms, held = _state(conn, tenant_id)
        lines.append(
            f"release: {summary['quota_released']} released, {summary['sent']} sent, usage "
            f"{used}/{terms.monthly_quota}, still held {held}"
        )
        period = rules.period_of(datetime.now(UTC))
        inv = invoices.invoice_for(conn, tenant_id, period)
        lines.append(
            f"invoice {period}: "
            + "; ".join(f"{ln.description} = R$ {ln.amount_brl}" for ln in inv.lines)
            + f"; total R$ {inv.total_brl}"
        )
        rows = [r for r in reconcile.reconcile(conn, [period]) if r["tenant_id"] == tenant_id]
        ok = bool(rows) and all(r["ok"] for r in rows)
        lines.append(
            "reconciliation: "
            + ("green" if ok else "RED")
            + "".join(
                f" (billed {r['billed']}, ledger {r['ledger']}, accepted {r['accepted']})" for r in rows
            )
        )
        if get_settings().env == "development":
            login = next(x for x in ensure_demo_users(conn, [tenant_id]) if x.tenant_id == tenant_id)
            lines.append(f"console: /billing as {login.email} / {login.password}")
    return tenant_id, lines
