"""Alarms as asset checks (explicit severity, thresholds from AlarmSettings) + GX data contracts +
the notification sensor. ``evaluate_all(url)`` runs every alarm without a Dagster run (demo).

Checks target the Postgres-mirroring asset keys (``["ops", "dlq"]``, ``["landing", "clicks"]``...);
the SQL alarms run every minute (``quality_alarms_job``), the GX contracts every 15 minutes. Each check's
metadata carries its value as a number (the UI plots it over time) and the runbook link
(TRACKAI_RUNBOOK_BASE_URL + page).
"""

from decimal import Decimal
from typing import Any

import dagster as dg

from dagster_project.defs.quality.alarms import ALARMS, ERROR, AlarmResult, AlarmSpec, run_alarm, runbook_url
from dagster_project.defs.quality.config import AlarmThresholds, AlarmThresholdsResource
from dagster_project.defs.quality.gx_contracts import CONTRACTS, Contract, run_contract
from dagster_project.defs.quality.notify import AlertNotifier
from dagster_project.defs.quality.sensors import alarm_notifier
from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource, env_var_or

__all__ = ["AlarmResult", "AlarmThresholds", "build_defs", "evaluate_all"]

SEVERITY = {"WARN": dg.AssetCheckSeverity.WARN, "ERROR": dg.AssetCheckSeverity.ERROR}


def evaluate_all(
    url: str | None = None, thresholds: AlarmThresholds | None = None, *, include_contracts: bool = True
) -> list[AlarmResult]:
    """Run every alarm (and the GX contracts) against ``url``; returns one AlarmResult each."""
    import psycopg

    from trackai import db
    from trackai.settings import get_settings

    thresholds = thresholds or get_settings().alarm
    with psycopg.connect(url or db.database_url(), autocommit=True) as conn:
        results = [run_alarm(conn, spec, thresholds) for spec in ALARMS]
        if include_contracts:
            results += [run_contract(conn, contract, thresholds) for contract in CONTRACTS]
    return results


def number(value: Any) -> dg.MetadataValue:
    """A metric as a number the UI can plot (int or float); no value (nothing to judge) -> null."""
    if value is None:
        return dg.MetadataValue.null()
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float | Decimal):
        return dg.MetadataValue.float(float(value))
    return dg.MetadataValue.text(str(value))


def to_check_result(result: AlarmResult) -> dg.AssetCheckResult:
    metadata = {
        "value": number(result.value),
        "threshold": dg.MetadataValue.text(str(result.threshold)),
        "severity_on_failure": dg.MetadataValue.text(result.severity),
        "runbook": dg.MetadataValue.url(result.runbook),
        "summary": dg.MetadataValue.text(
            f"{result.name}: value {result.value} (threshold {result.threshold})"
        ),
        "details": dg.MetadataValue.json(result.details),
    }
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=SEVERITY[result.severity],
        metadata=metadata,
        description=result.description or None,
    )


def _alarm_check(spec: AlarmSpec) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset_key)),
        name=spec.name,
        blocking=False,
        description=f"[{spec.severity}] {spec.description} Runbook: {runbook_url(spec.runbook)}",
    )
    def _check(postgres: PostgresResource, alarm_thresholds: AlarmThresholdsResource) -> dg.AssetCheckResult:
        with postgres.connect() as conn:
            return to_check_result(run_alarm(conn, spec, alarm_thresholds.thresholds()))

    return _check


def _contract_check(contract: Contract) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(contract.asset_key)),
        name=contract.name,
        blocking=False,
        description=f"[{ERROR}] Great Expectations data contract (hash format, currency, amount,"
        f" event time, no plaintext PII). Runbook: {runbook_url('data-contracts.md')}",
    )
    def _check(postgres: PostgresResource, alarm_thresholds: AlarmThresholdsResource) -> dg.AssetCheckResult:
        with postgres.connect() as conn:
            return to_check_result(run_contract(conn, contract, alarm_thresholds.thresholds()))

    return _check


IN_FLIGHT = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def no_run_in_flight(job_name: str):
    """A schedule tick is skipped while the previous run of its job is queued or running: a slow alarm run
    must not pile up a queue that takes the slots the micro-batch needs (bench P4)."""

    def _should_execute(context: dg.ScheduleEvaluationContext) -> bool:
        runs = context.instance.get_runs_count(dg.RunsFilter(job_name=job_name, statuses=list(IN_FLIGHT)))
        return runs == 0

    return _should_execute


def alert_notifier_resource() -> AlertNotifier:
    """Explicit environment variables as unresolved EnvVars (the UI shows names, not the secret values);
    unset ones fall back to Settings when an alert is sent."""
    return AlertNotifier(
        webhook_url=env_var_or("TRACKAI_ALERT_WEBHOOK_URL"),
        format=env_var_or("TRACKAI_ALERT_FORMAT"),
        pagerduty_routing_key=env_var_or("TRACKAI_PAGERDUTY_ROUTING_KEY"),
    )


def build_defs() -> dg.Definitions:
    alarm_checks = [_alarm_check(spec) for spec in ALARMS]
    contract_checks = [_contract_check(c) for c in CONTRACTS]
    alarms_job = dg.define_asset_job(
        keys.QUALITY_ALARMS_JOB,
        selection=dg.AssetSelection.checks(*alarm_checks),
        tags=keys.ALARMS_RUN_TAGS,
    )
    contracts_job = dg.define_asset_job(
        keys.QUALITY_CONTRACTS_JOB,
        selection=dg.AssetSelection.checks(*contract_checks),
        tags=keys.CONTRACTS_RUN_TAGS,
    )
    return dg.Definitions(
        asset_checks=[*alarm_checks, *contract_checks],
        jobs=[alarms_job, contracts_job],
        schedules=[
            dg.ScheduleDefinition(
                name="quality_alarms_every_minute",
                job=alarms_job,
                cron_schedule="* * * * *",
                should_execute=no_run_in_flight(keys.QUALITY_ALARMS_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            dg.ScheduleDefinition(
                name="quality_contracts_every_15_minutes",
                job=contracts_job,
                cron_schedule="*/15 * * * *",
                should_execute=no_run_in_flight(keys.QUALITY_CONTRACTS_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
        ],
        sensors=[alarm_notifier],
        resources={
            "alarm_thresholds": AlarmThresholdsResource(),
            "alert_notifier": alert_notifier_resource(),
        },
    )
