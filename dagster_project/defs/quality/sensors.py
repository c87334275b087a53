"""``alarm_notifier``: posts every failed asset check and every failed run to the alert webhook."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType

from dagster_project.defs.quality.alarms import runbook_url
from dagster_project.defs.quality.notify import AlertNotifier
from dagster_project.lib.keys import ALARM_NOTIFIER_SENSOR, SELF_NOTIFYING

BATCH = 200


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def check_alert(record) -> dict[str, Any] | None:
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    if evaluation is None or evaluation.passed:
        return None
    metadata = {k: _metadata_value(v) for k, v in (evaluation.metadata or {}).items()}
    if metadata.get(SELF_NOTIFYING):
        # the check posts its own, throttled alert (e.g. privacy deadlines: once a day per request)
        return None
    severity = evaluation.severity.value if evaluation.severity else "ERROR"
    asset = evaluation.asset_key.to_user_string()
    return {
        "kind": "asset_check",
        "severity": severity,
        "title": f"{evaluation.check_name} failed on {asset}",
        "summary": str(metadata.get("summary") or evaluation.description or f"value={metadata.get('value')}"),
        "runbook": metadata.get("runbook") or runbook_url("README.md"),
        "dedup_key": f"trackai/{asset}/{evaluation.check_name}",
        "component": asset,
        "details": {
            k: v for k, v in metadata.items() if isinstance(v, str | int | float | bool) or v is None
        },
        "run_id": record.event_log_entry.run_id,
    }


def run_failure_alert(record) -> dict[str, Any]:
    entry = record.event_log_entry
    return {
        "kind": "run_failure",
        "severity": "RUN_FAILURE",
        "title": f"run of {entry.job_name} failed",
        "summary": (entry.user_message or "")[:500],
        "runbook": runbook_url("failed-runs.md"),
        "dedup_key": f"trackai/run/{entry.job_name}",
        "component": entry.job_name,
        "details": {"run_id": entry.run_id, "job": entry.job_name},
        "run_id": entry.run_id,
    }


def _records(instance, event_type, after: int | None):
    return instance.get_event_records(
        dg.EventRecordsFilter(event_type=event_type, after_cursor=after), limit=BATCH, ascending=True
    )


@dg.sensor(
    name=ALARM_NOTIFIER_SENSOR,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed checks and failed runs (Slack or PagerDuty Events v2) with the runbook link.",
)
def alarm_notifier(context: dg.SensorEvaluationContext, alert_notifier: AlertNotifier):
    cursor = json.loads(context.cursor) if context.cursor else {}
    check_after, run_after = cursor.get("check"), cursor.get("run")
    sent = 0
    for record in _records(context.instance, DagsterEventType.ASSET_CHECK_EVALUATION, check_after):
        alert = check_alert(record)
        if alert:
            alert_notifier.send(alert)
            sent += 1
        check_after = record.storage_id
    runs = context.instance.fetch_run_status_changes(
        DagsterEventType.RUN_FAILURE, limit=BATCH, ascending=True, cursor=run_after
    )
    for record in runs.records:
        alert_notifier.send(run_failure_alert(record))
        sent += 1
    run_after = runs.cursor if runs.records else run_after
    context.update_cursor(json.dumps({"check": check_after, "run": run_after}))
    return dg.SkipReason(f"posted {sent} alert(s)") if sent else dg.SkipReason("no new failures")
