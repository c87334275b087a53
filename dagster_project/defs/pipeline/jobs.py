"""The micro-batch job: every asset of group "pipeline" (ours + dispatch's), one partition or range per run."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.defs.pipeline.assets import CONCURRENCY_TAG, PIPELINE_GROUP

MICRO_BATCH_JOB_NAME = "micro_batch_job"

micro_batch_job = dg.define_asset_job(
    MICRO_BATCH_JOB_NAME,
    # Without the group's asset checks: they run on the quality_* schedules. In the job, every run process
    # imported Great Expectations + scipy for one contract check (bench P6: 23 s of a 39 s cold run).
    selection=dg.AssetSelection.groups(PIPELINE_GROUP).without_checks(),
    partitions_def=daily_partitions,
    # One process per run: a micro-batch is I/O bound and the per-step process start would dominate it.
    executor_def=dg.in_process_executor,
    # dagster_home/dagster.yaml limits runs with this tag to one at a time (QueuedRunCoordinator).
    # dagster/priority: queued micro-batches start before queued alarm/dbt runs (bench P4 freshness).
    tags={CONCURRENCY_TAG: "micro_batch", "dagster/priority": "10"},
    description="Fold purchases, match clicks (3 stages), register event_ids, then dispatch (same group).",
)
