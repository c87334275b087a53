"""The demo's LGPD step (issue 23, docs/privacy.md): one demo buyer asks what is held about them, then asks
for deletion. Both go through ``trackai.privacy.requests.serve`` exactly as ``trackai privacy request``
does; the lines printed are the request's own counts and timings."""

from __future__ import annotations

from pathlib import Path

from trackai import db
from trackai.privacy import requests
from trackai.settings import get_settings
from trackai_cli.demo_traffic import TrafficPlan


def pick_buyer(plan: TrafficPlan):
    """A buyer whose purchase went through (a lead with the same email, else a session match)."""
    for wanted in ("email", "session"):
        for purchase in plan.purchases:
            if purchase.expected == wanted and not purchase.refunded and not purchase.resend:
                return purchase
    return plan.purchases[0]


def run_privacy_demo(url: str, tenant_id: str, plan: TrafficPlan) -> list[str]:
    settings = get_settings()
    buyer = pick_buyer(plan)
    out_dir = Path(settings.data_dir) / "privacy"
    with db.connect(url) as conn:
        exported = requests.serve(
            conn, tenant_id, action="export", actor="demo", email=buyer.email, out_dir=out_dir
        )
        erased = requests.serve(conn, tenant_id, action="delete", actor="demo", email=buyer.email)
    report = exported.report or {}
    held = {k: v for k, v in exported.counts.items() if v}
    changed = {k: v for k, v in erased.counts.items() if v}
    pixels = sorted({r["pixel_id"] for r in report.get("recipients", [])})
    return [
        f"request #{exported.request_id} for the buyer of order {buyer.order_id} ({buyer.gateway}): "
        f"deadline {exported.deadline_at:%Y-%m-%d}",
        f"export: {sum(held.values())} rows in {len(held)} tables, recipients: Meta pixel(s) {', '.join(pixels) or '-'}"
        f" ({len(report.get('recipients', []))} event(s)); {sum(exported.timings_s.values()):.2f} s; "
        f"report {exported.report_path}",
        f"delete: {sum(changed.values())} rows deleted/anonymised in {len(changed)} tables, event_id tombstone kept; "
        f"{sum(erased.timings_s.values()):.2f} s; state {erased.state}",
    ]
