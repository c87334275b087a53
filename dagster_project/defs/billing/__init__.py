"""Billing domain (issue 18, docs/billing.md): the usage ledger as an asset of group "billing", the
reconciliation check on it (ERROR severity, every 15 minutes; the alarm notifier posts it when it fails) and
the monthly close of the previous period (01:00 São Paulo on the 1st), which refuses to close while the
reconciliation of that period is red (the run fails, and the alarm notifier posts the failed run).

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
CLOSE_JOB = "billing_close_period_job"
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


@dg.op(
    description="Close the previous São Paulo month: audit period_close + invoice per tenant (once), only "
    "when billed = ledger = accepted for that period."
)
def close_previous_period(context: dg.OpExecutionContext, postgres: PostgresResource) -> dict:
    from trackai.billing import invoices, reconcile
    from trackai.core import billing as rules

    period = rules.previous_period(rules.period_of(rules.utc_now()))
    with postgres.connect() as conn:
        bad = [r for r in reconcile.reconcile(conn, [period]) if not r["ok"]]
        if bad:
            raise dg.Failure(
                description=f"billing period {period} not closed: {len(bad)} tenants differ "
                "(runbook docs/runbooks/billing.md)",
                metadata={"differences": dg.MetadataValue.json(bad[:50])},
            )
        closed = invoices.close_period(conn, period, actor="dagster")
    summary = {
        "period": period,
        "tenants": len(closed),
        "closed_now": sum(1 for c in closed if c["closed"]),
        "invoiced_now": sum(1 for c in closed if c["issued"]),
    }
    context.log.info("billing close: %s", summary)
    return summary


@dg.job(name=CLOSE_JOB, description="Monthly close of the previous billing period (docs/billing.md).")
def billing_close_period_job() -> None:
    close_previous_period()


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
        jobs=[job, billing_close_period_job],
        schedules=[
            dg.ScheduleDefinition(
                name="billing_close_previous_period_monthly",
                job=billing_close_period_job,
                cron_schedule="0 1 1 * *",
                execution_timezone="America/Sao_Paulo",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            dg.ScheduleDefinition(
                name="billing_reconciliation_every_15_minutes",
                job=job,
                cron_schedule="*/15 * * * *",
                should_execute=no_run_in_flight(RECONCILIATION_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
        ],
    )
