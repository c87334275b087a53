"""Billing domain (issue 18, docs/billing.md): the usage ledger as an asset of group "billing" and the
reconciliation check on it (ERROR severity, every 15 minutes; the alarm notifier posts it when it fails).

``billing/usage_ledger`` is written by the dispatch step (``trackai.dispatch.store.apply`` records each
accepted event there in the transaction that records the success), so it is declared here as an external
asset that depends on ``ops/dispatch_attempts``; the dbt usage marts read it (source billing.usage_ledger).
"""

import dagster as dg

from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource

USAGE_LEDGER = keys.table_key("billing", "usage_ledger")
BILLING_GROUP = "billing"
RECONCILIATION_JOB = "billing_reconciliation_job"
RUNBOOK_PAGE = "billing.md"

usage_ledger = dg.AssetSpec(
    key=USAGE_LEDGER,
    group_name=BILLING_GROUP,
    deps=[keys.DISPATCH_ATTEMPTS],
    description="PII-free billable usage: one row per (tenant, event_id) the first time Meta accepted it "
    "(contract C2), written with the per-period counter in the transaction that records the success "
    "(trackai.billing.ledger). Read by the invoices, the quota and the dbt usage marts.",
    kinds={"postgres"},
)


@dg.asset_check(
    asset=USAGE_LEDGER,
    name="billing_usage_reconciliation",
    blocking=False,
    description="[ERROR] Per tenant and period (current and previous São Paulo month): billed usage "
    "(billing.usage_counters) = ledger rows = distinct event_ids first accepted by Meta in "
    "ops.dispatch_attempts (non-test successes). Runbook: docs/runbooks/billing.md",
)
def billing_usage_reconciliation(postgres: PostgresResource) -> dg.AssetCheckResult:
    from dagster_project.defs.quality.alarms import runbook_url
    from trackai.billing import reconcile

    with postgres.connect() as conn:
        rows = reconcile.reconcile(conn)
    bad = [r for r in rows if not r["ok"]]
    summary = (
        f"billing reconciliation: {len(bad)} of {len(rows)} tenant-periods differ"
        if bad
        else f"billing reconciliation: {len(rows)} tenant-periods agree"
    )
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        description=summary,
        metadata={
            "value": dg.MetadataValue.int(len(bad)),
            "threshold": dg.MetadataValue.text("0 differing tenant-periods"),
            "severity_on_failure": dg.MetadataValue.text("ERROR"),
            "summary": dg.MetadataValue.text(summary),
            "runbook": dg.MetadataValue.url(runbook_url(RUNBOOK_PAGE)),
            "checked": dg.MetadataValue.int(len(rows)),
            "differences": dg.MetadataValue.json(
                [{k: r[k] for k in ("tenant_id", "period", "billed", "ledger", "accepted")} for r in bad[:50]]
            ),
        },
    )


def build_defs() -> dg.Definitions:
    from dagster_project.defs.quality import no_run_in_flight

    job = dg.define_asset_job(
        RECONCILIATION_JOB,
        selection=dg.AssetSelection.checks(billing_usage_reconciliation),
        tags={keys.KIND_TAG: "alarms"},
    )
    return dg.Definitions(
        assets=[usage_ledger],
        asset_checks=[billing_usage_reconciliation],
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(
                name="billing_reconciliation_every_15_minutes",
                job=job,
                cron_schedule="*/15 * * * *",
                should_execute=no_run_in_flight(RECONCILIATION_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
