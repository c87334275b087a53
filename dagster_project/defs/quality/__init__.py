"""Alarms as asset checks (explicit severity, thresholds in AlarmThresholds) + GX data contracts +
the notification sensor. ``evaluate_all(url)`` runs every alarm without a Dagster run (demo).

Checks target the Postgres-mirroring asset keys (``["ops", "dlq"]``, ``["landing", "clicks"]``...);
the SQL alarms run every minute (``quality_alarms_job``), the GX contracts every 15 minutes.
"""

import dagster as dg

from dagster_project.defs.quality.alarms import ALARMS, ERROR, AlarmResult, AlarmSpec, run_alarm
from dagster_project.defs.quality.config import AlarmThresholds
from dagster_project.defs.quality.gx_contracts import CONTRACTS, Contract, run_contract
from dagster_project.defs.quality.notify import AlertNotifier
from dagster_project.defs.quality.sensors import alarm_notifier
from dagster_project.lib.resources import PostgresResource

__all__ = ["AlarmResult", "AlarmThresholds", "build_defs", "evaluate_all"]

SEVERITY = {"WARN": dg.AssetCheckSeverity.WARN, "ERROR": dg.AssetCheckSeverity.ERROR}


def evaluate_all(
    url: str | None = None, thresholds: AlarmThresholds | None = None, *, include_contracts: bool = True
) -> list[AlarmResult]:
    """Run every alarm (and the GX contracts) against ``url``; returns one AlarmResult each."""
    import psycopg

    from trackai import db

    thresholds = thresholds or AlarmThresholds.from_env()
    with psycopg.connect(url or db.database_url(), autocommit=True) as conn:
        results = [run_alarm(conn, spec, thresholds) for spec in ALARMS]
        if include_contracts:
            results += [run_contract(conn, contract, thresholds) for contract in CONTRACTS]
    return results


def to_check_result(result: AlarmResult) -> dg.AssetCheckResult:
    metadata = {
        "value": dg.MetadataValue.text(str(result.value)),
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
        description=f"[{spec.severity}] {spec.description} Runbook: docs/runbooks/{spec.runbook}",
    )
    def _check(postgres: PostgresResource, alarm_thresholds: AlarmThresholds) -> dg.AssetCheckResult:
        with postgres.connect() as conn:
            return to_check_result(run_alarm(conn, spec, alarm_thresholds))

    return _check


def _contract_check(contract: Contract) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(contract.asset_key)),
        name=contract.name,
        blocking=False,
        description=f"[{ERROR}] Great Expectations data contract (hash format, currency, amount,"
        " event time, no plaintext PII).",
    )
    def _check(postgres: PostgresResource, alarm_thresholds: AlarmThresholds) -> dg.AssetCheckResult:
        with postgres.connect() as conn:
            return to_check_result(run_contract(conn, contract, alarm_thresholds))

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


def build_defs() -> dg.Definitions:
    alarm_checks = [_alarm_check(spec) for spec in ALARMS]
    contract_checks = [_contract_check(c) for c in CONTRACTS]
    alarms_job = dg.define_asset_job(
        "quality_alarms_job",
        selection=dg.AssetSelection.checks(*alarm_checks),
        tags={"trackai/kind": "alarms"},
    )
    contracts_job = dg.define_asset_job(
        "quality_contracts_job",
        selection=dg.AssetSelection.checks(*contract_checks),
        tags={"trackai/kind": "contracts"},
    )
    return dg.Definitions(
        asset_checks=[*alarm_checks, *contract_checks],
        jobs=[alarms_job, contracts_job],
        schedules=[
            dg.ScheduleDefinition(
                name="quality_alarms_every_minute",
                job=alarms_job,
                cron_schedule="* * * * *",
                should_execute=no_run_in_flight("quality_alarms_job"),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            dg.ScheduleDefinition(
                name="quality_contracts_every_15_minutes",
                job=contracts_job,
                cron_schedule="*/15 * * * *",
                should_execute=no_run_in_flight("quality_contracts_job"),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
        ],
        sensors=[alarm_notifier],
        resources={
            "alarm_thresholds": AlarmThresholds.from_env(),
            "alert_notifier": AlertNotifier(
                webhook_url=dg.EnvVar("TRACKAI_ALERT_WEBHOOK_URL").get_value("") or "",
                format=dg.EnvVar("TRACKAI_ALERT_FORMAT").get_value("slack") or "slack",
                pagerduty_routing_key=dg.EnvVar("TRACKAI_PAGERDUTY_ROUTING_KEY").get_value("") or "",
            ),
        },
    )
