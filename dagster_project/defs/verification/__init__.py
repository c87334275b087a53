"""Verification domain: the asset ``core/purchase_verifications`` (group "pipeline": it runs in the
micro-batch job, after dedupe and before dispatch) and its anomaly alarm (a WARN asset check on its
own 5-minute schedule, like the quality alarms; the micro-batch job runs without checks).

Dispatch's enqueue verifies again whatever is still unverified, so the order of the two steps is a
matter of latency and lineage, never of safety (trackai.verification.engine).
"""

import dagster as dg

from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource

VERIFICATIONS = keys.PURCHASE_VERIFICATIONS
DEDUPE = keys.DEDUPE_REGISTRY
PURCHASES = keys.PURCHASES
ALARM_JOB = keys.VERIFICATION_ALARM_JOB
NUMERIC = (
    "anomalies",
    "rejected",
    "held",
    "pending",
    "unverifiable_unconfigured",
    "confirmed",
    "plausible",
    "signed",
    "kept_from_meta_now",
)


@dg.asset(
    key=VERIFICATIONS,
    group_name=keys.PIPELINE_GROUP,
    deps=[DEDUPE, PURCHASES],
    description="Verdict on each approved purchase before dispatch: the gateway's sales API, the tenant's "
    "funnels or the body signature (trackai.verification).",
    kinds={"python", "postgres"},
)
def purchase_verifications(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    from trackai.verification import verify_purchases

    with postgres.connect() as conn:
        summary = verify_purchases(conn)
    context.log.info("verification summary: %s", summary)
    return dg.MaterializeResult(metadata={k: int(v) for k, v in summary.items()})


@dg.asset_check(
    asset=VERIFICATIONS,
    name="purchase_verification_anomalies",
    blocking=False,
    description="[WARN] Rejected, held or unexpectedly unverifiable purchases in the window. "
    "Runbook: docs/runbooks/purchase-verification.md",
)
def purchase_verification_anomalies(postgres: PostgresResource) -> dg.AssetCheckResult:
    from dagster_project.defs.verification.alarm import evaluate
    from trackai.settings import get_settings

    with postgres.connect() as conn:
        result = evaluate(conn, get_settings().verify)
    details = result.details
    metadata: dict = {k: dg.MetadataValue.int(int(details[k])) for k in NUMERIC}
    metadata.update(
        value=dg.MetadataValue.int(int(result.value)),
        threshold=dg.MetadataValue.text(str(result.threshold)),
        severity_on_failure=dg.MetadataValue.text(result.severity),
        runbook=dg.MetadataValue.url(result.runbook),
        summary=dg.MetadataValue.text(f"{result.name}: {result.value} anomalies ({result.threshold})"),
        by_reason=dg.MetadataValue.json(details["by_reason"]),
        by_tenant=dg.MetadataValue.json(details["by_tenant"]),
    )
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=result.description,
    )


def build_defs() -> dg.Definitions:
    from dagster_project.defs.quality import no_run_in_flight

    job = dg.define_asset_job(
        ALARM_JOB,
        selection=dg.AssetSelection.checks(purchase_verification_anomalies),
        tags=keys.ALARMS_RUN_TAGS,
    )
    return dg.Definitions(
        assets=[purchase_verifications],
        asset_checks=[purchase_verification_anomalies],
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(
                name=keys.VERIFICATION_ALARM_SCHEDULE,
                job=job,
                cron_schedule="*/5 * * * *",
                should_execute=no_run_in_flight(ALARM_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
