"""Quota threshold notices to people (contract C6: ``trackai.alerts.send_alert``), sent after the commit that
recorded them; the once-only guarantee is the audit row's unique index, not this module."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from trackai import alerts
from trackai.billing.ledger import Notice

log = logging.getLogger("trackai.billing")
RUNBOOK = "docs/runbooks/billing.md"


def alert_of(notice: Notice) -> dict:
    held = notice.threshold_pct >= 100 and notice.policy == "block"
    if notice.threshold_pct >= 100:
        what = "new events are held until the plan allows" if held else "further events are billed as overage"
    else:
        what = "the plan's quota is close"
    return {
        "severity": "ERROR" if held else "WARN",
        "title": f"Billing: tenant reached {notice.threshold_pct}% of its monthly quota",
        "summary": (
            f"tenant {notice.tenant_id}, period {notice.period}: {notice.used} of {notice.quota} billable "
            f"events (plan {notice.plan_code}, policy {notice.policy}); {what}."
        ),
        "dedup_key": f"billing-quota-{notice.tenant_id}-{notice.period}-{notice.threshold_pct}-{notice.quota}",
        "runbook": RUNBOOK,
        "component": "billing",
        "group": "billing",
        "details": {
            "tenant_id": notice.tenant_id,
            "period": notice.period,
            "threshold_pct": notice.threshold_pct,
            "used": notice.used,
            "quota": notice.quota,
            "policy": notice.policy,
            "plan_code": notice.plan_code,
        },
    }


def send_notices(notices: Iterable[Notice]) -> int:
    """Post each notice; a failing webhook is logged, never raised (the dispatch must go on). Returns posted."""
    posted = 0
    for notice in notices:
        try:
            if alerts.send_alert(alert_of(notice)) is not None:
                posted += 1
        except Exception as exc:  # the notice stays in the audit trail and on the console
            log.warning("billing threshold notice not delivered: %s", type(exc).__name__)
    return posted
