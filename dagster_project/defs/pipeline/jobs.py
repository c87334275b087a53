"""micro_batch_job: the micro-batch, dispatch, then the dbt marts, for one partition or range per run."""

from __future__ import annotations

import warnings

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.lib.keys import ANALYTICS_PREFIX, MICRO_BATCH_JOB, MICRO_BATCH_RUN_TAGS, PIPELINE_GROUP

# Group "pipeline" (micro-batch + dispatch) and every dbt model ("analytics/*"), so each micro-batch leaves
# every mart materialised: the views (dbt runs only when a definition changed or a view is missing; else
# they are recorded as current, their rows follow the tables just written) and the daily table for the
# run's days (a real dbt run, at most every 5 minutes per day: dagster_project.defs.dbt).
# Without the asset checks: they run on the quality_* schedules and the dbt marts automation. In the
# job, every run process imported Great Expectations + scipy for one contract check (bench P6: 23 s of a
# 39 s cold run), and dbt tests would add a second dbt pass.
MICRO_BATCH_SELECTION = (
    dg.AssetSelection.groups(PIPELINE_GROUP) | dg.AssetSelection.key_prefixes([ANALYTICS_PREFIX])
).without_checks()

# The micro-batch backfills one day per run, the dbt daily table a whole range per run (single_run) when it
# is backfilled alone; in this job Dagster takes the stricter one, one day per run, which is the intent.
warnings.filterwarnings("ignore", message=f"Asset job {MICRO_BATCH_JOB} materializes assets with varying")

micro_batch_job = dg.define_asset_job(
    MICRO_BATCH_JOB,
    selection=MICRO_BATCH_SELECTION,
    partitions_def=daily_partitions,
    # One process per run: a micro-batch is I/O bound and the per-step process start would dominate it.
    executor_def=dg.in_process_executor,
    # dagster_home/dagster.yaml limits runs with trackai/concurrency_group=micro_batch to one at a time
    # (QueuedRunCoordinator); dagster/priority: queued micro-batches start before queued alarm/dbt runs
    # (bench P4 freshness). Runs that do not carry these tags (UI asset backfills) are bound by the pools.
    tags=MICRO_BATCH_RUN_TAGS,
    description="Fold purchases, match clicks (3 stages), register event_ids, dispatch to Meta, then"
    " rebuild the dbt marts (views, and the daily table for the run's days).",
)
