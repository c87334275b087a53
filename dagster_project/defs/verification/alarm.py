"""The verification anomaly alarm as a plain function over a psycopg connection (no Dagster run needed).

Counts the verdicts reached in the last ``TRACKAI_VERIFY_ALARM_WINDOW_MINUTES``; the ones
``trackai.verification.rules.is_anomaly`` calls anomalies (rejected, held, unverifiable although the
tenant configured a reference) fail the check above ``TRACKAI_VERIFY_ALARM_MAX_ANOMALIES`` (WARN: it
notifies, it does not page; a forged purchase has already been kept from Meta when it fires).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg

from dagster_project.defs.quality.alarms import WARN, AlarmResult, runbook_url
from dagster_project.lib import keys
from trackai.settings import VerifySettings
from trackai.verification import rules, store

NAME = "purchase_verification_anomalies"
ASSET_KEY = tuple(keys.PURCHASE_VERIFICATIONS.path)
RUNBOOK = "purchase-verification.md"
DESCRIPTION = (
    "Purchases rejected (forged or implausible), held, or unverifiable although the tenant configured "
    "funnels or sales-API credentials, in the window."
)


def evaluate(conn: psycopg.Connection, cfg: VerifySettings, now: datetime | None = None) -> AlarmResult:
    now = now or datetime.now(UTC)
    rows = store.recent_outcomes(conn, since=now - timedelta(minutes=cfg.alarm_window_minutes))
    by_outcome: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_tenant: Counter[str] = Counter()
    anomalies = held = unconfigured = 0
    for tenant_id, outcome, reason, dispatchable, n in rows:
        by_outcome[outcome] += n
        if outcome == "unverifiable" and not dispatchable:
            held += n
        if outcome == "unverifiable" and reason == "no_reference":
            unconfigured += n
        if rules.is_anomaly(outcome, reason, dispatchable):
            anomalies += n
            by_reason[f"{outcome}:{reason}"] += n
            by_tenant[tenant_id] += n
    return AlarmResult(
        name=NAME,
        passed=anomalies <= cfg.alarm_max_anomalies,
        severity=WARN,
        value=anomalies,
        threshold=f"> {cfg.alarm_max_anomalies} in {cfg.alarm_window_minutes} min",
        runbook=runbook_url(RUNBOOK),
        asset_key=ASSET_KEY,
        description=DESCRIPTION,
        details={
            "anomalies": anomalies,
            "rejected": by_outcome["rejected"],
            "held": held,
            "pending": by_outcome["pending"],
            "unverifiable_unconfigured": unconfigured,
            "confirmed": by_outcome["confirmed"],
            "plausible": by_outcome["plausible"],
            "signed": by_outcome["signed"],
            "kept_from_meta_now": store.held_now(conn),
            "by_reason": dict(by_reason.most_common(20)),
            "by_tenant": dict(by_tenant.most_common(10)),
        },
    )
