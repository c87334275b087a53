"""Meta's own Event Match Quality, pulled once a day per tenant, and the alarm comparing it with ours.

* Asset ``["ops", "meta_dataset_quality"]`` (group ``match_quality``): every active tenant with a Meta token
  asks the Dataset Quality API for its pixel and the answer lands in ops.meta_dataset_quality
  (trackai.console_data.meta_quality); dbt's ``console_meta_emq_daily`` reads it, so the lineage runs on to
  the console's marts. A tenant whose request fails is listed in the metadata; the others are stored.
* Schedule ``meta_quality_daily`` on TRACKAI_META_QUALITY_PULL_CRON (06:00 UTC by default).
* Asset check ``emq_estimate_vs_meta`` [WARN]: per tenant, our ESTIMATED EMQ of the events sent on the
  latest day Meta scored against Meta's Purchase score of that day; apart by more than
  TRACKAI_META_QUALITY_DRIFT_MAX_POINTS (``trackai.console_data.meta_quality.drift``, the rule the console's
  banner uses too) fails it.
"""

import dagster as dg

from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource

ASSET_KEY = keys.META_DATASET_QUALITY
JOB_NAME = keys.META_QUALITY_JOB

# Latest day with Meta's Purchase score per tenant, beside our estimate over that day's sent events.
DRIFT_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (tenant_id) tenant_id, quality_date, composite_score
      FROM ops.meta_dataset_quality
     WHERE event_name = 'Purchase' AND composite_score IS NOT NULL
     ORDER BY tenant_id, quality_date DESC
)
SELECT l.tenant_id::text, l.quality_date, l.composite_score,
       (SELECT round(avg({emq}), 2) FROM ops.dispatch_queue q
         WHERE q.tenant_id = l.tenant_id AND q.status = 'sent'
           AND q.sent_at >= l.quality_date::timestamp AT TIME ZONE 'UTC'
           AND q.sent_at < (l.quality_date + 1)::timestamp AT TIME ZONE 'UTC')
  FROM latest l
"""


@dg.asset(
    key=ASSET_KEY,
    group_name=keys.MATCH_QUALITY_GROUP,
    description="Meta's EMQ (composite score, per-key coverage) per tenant and day, from the Dataset Quality API.",
    kinds={"python", "postgres"},
)
def meta_dataset_quality(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    from trackai.console_data.meta_quality import pull_all

    with postgres.connect() as conn:
        summary = pull_all(conn)
    failed = {tenant: result["error"] for tenant, result in summary.items() if "error" in result}
    for tenant, error in failed.items():
        context.log.warning("dataset quality pull failed for tenant %s: %s", tenant, error)
    return dg.MaterializeResult(
        metadata={
            "tenants_pulled": len(summary) - len(failed),
            "tenants_failed": len(failed),
            "events_stored": sum(r.get("events", 0) for r in summary.values()),
            "failures": dg.MetadataValue.json(failed),
        }
    )


@dg.asset_check(
    asset=ASSET_KEY,
    name="emq_estimate_vs_meta",
    blocking=False,
    description="[WARN] Our estimated EMQ and Meta's own score for the same day drift apart "
    "(TRACKAI_META_QUALITY_DRIFT_MAX_POINTS). Runbook: docs/console.md#match-quality",
)
def emq_estimate_vs_meta(postgres: PostgresResource) -> dg.AssetCheckResult:
    return evaluate_drift(postgres)


def evaluate_drift(postgres: PostgresResource) -> dg.AssetCheckResult:
    from trackai.console_data.meta_quality import drift
    from trackai.core import emq
    from trackai.settings import get_settings

    max_points = get_settings().meta_quality.drift_max_points
    with postgres.connect() as conn:
        rows = conn.execute(DRIFT_SQL.format(emq=emq.sql_expression("q.payload -> 'user_data'"))).fetchall()
    drifting = []
    for tenant_id, day, meta, ours in rows:
        result = drift(ours, meta, max_points)
        if result.state == "drift":
            drifting.append(
                {
                    "tenant_id": tenant_id,
                    "day": day.isoformat(),
                    "ours": float(ours),
                    "meta": float(meta),
                    "gap": result.gap,
                }
            )
    return dg.AssetCheckResult(
        passed=not drifting,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "threshold_points": max_points,
            "tenants_compared": len(rows),
            "drifting": dg.MetadataValue.json(drifting),
        },
    )


def build_defs() -> dg.Definitions:
    from trackai.settings import get_settings

    job = dg.define_asset_job(JOB_NAME, selection=dg.AssetSelection.assets(meta_dataset_quality))
    schedule = dg.ScheduleDefinition(
        name=keys.META_QUALITY_SCHEDULE,
        job=job,
        cron_schedule=get_settings().meta_quality.pull_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Pull Meta's Event Match Quality of every tenant once a day (Dataset Quality API).",
    )
    return dg.Definitions(
        assets=[meta_dataset_quality], asset_checks=[emq_estimate_vs_meta], jobs=[job], schedules=[schedule]
    )
