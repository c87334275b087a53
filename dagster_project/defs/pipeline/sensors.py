"""The 1-minute sensor: durable watermark in Postgres -> one run per new watermark.

Each tick reads ops.pipeline_watermarks['conversions'] (advanced by the job in the same transaction as
its results) and max(landing.conversions.conversion_id). When nothing is new it skips with a reason;
otherwise it requests ONE run with ``run_key = "conversions:<max id>"`` labelled with the daily
partition (or the partition range) the new rows touch, and returns that cursor with the request.
One run per watermark (not one per partition) keeps the watermark advance atomic: a failed run leaves
the watermark where it was and the next new row requests a run covering everything since.
Rows younger than TRACKAI_PIPELINE_SETTLE_SECONDS (default 5) wait for the next tick, so an id that
commits out of order is not skipped by the watermark. Sensor status: RUNNING by default (set TRACKAI_PIPELINE_SENSOR_DEFAULT=stopped to ship it off).
"""

import dagster as dg

from dagster_project.defs.pipeline.jobs import micro_batch_job
from dagster_project.lib.keys import MICRO_BATCH_SENSOR
from dagster_project.lib.resources import PostgresResource
from trackai.settings import get_settings

DEFAULT_STATUS = (
    dg.DefaultSensorStatus.STOPPED
    if get_settings().pipeline.sensor_default == "stopped"
    else dg.DefaultSensorStatus.RUNNING
)


@dg.sensor(
    name=MICRO_BATCH_SENSOR,
    job=micro_batch_job,
    minimum_interval_seconds=60,
    default_status=DEFAULT_STATUS,
    description="Requests a micro-batch run when landing.conversions has rows past the durable watermark.",
)
def micro_batch_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    from dagster_project.runner import plan_incremental

    settle = get_settings().pipeline.settle_seconds
    with postgres.connect() as conn:
        plan = plan_incremental(conn, settle_seconds=settle)
    if plan is None:
        return dg.SkipReason("no new landed conversions since the stored watermark")
    if context.cursor == str(plan.upto):
        return dg.SkipReason(f"run for watermark {plan.upto} already requested; waiting for it to finish")
    request = dg.RunRequest(run_key=plan.run_key, partition_key=plan.partition_key, tags=plan.tags)
    return dg.SensorResult(run_requests=[request], cursor=str(plan.upto))
