"""The micro-batch job: every asset of group "pipeline" (ours + dispatch's), one partition or range per run."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.defs.pipeline.assets import CONCURRENCY_TAG, PIPELINE_GROUP

MICRO_BATCH_JOB_NAME = "micro_batch_job"

micro_batch_job = dg.define_asset_job(
    MICRO_BATCH_JOB_NAME,
    selection=dg.AssetSelection.groups(PIPELINE_GROUP),
    partitions_def=daily_partitions,
    # One process per run: a micro-batch is I/O bound and the per-step process start would dominate it.
    executor_def=dg.in_process_executor,
    # dagster_home/dagster.yaml limits runs with this tag to one at a time (QueuedRunCoordinator).
    tags={CONCURRENCY_TAG: "micro_batch"},
    description="Fold purchases, match clicks (3 stages), register event_ids, then dispatch (same group).",
)
