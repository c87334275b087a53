"""Micro-batch domain: core/purchases -> core/matches -> core/dedupe_registry, job, sensor."""

from __future__ import annotations

import dagster as dg


def build_defs() -> dg.Definitions:
    from dagster_project.defs.pipeline.assets import micro_batch
    from dagster_project.defs.pipeline.jobs import micro_batch_job
    from dagster_project.defs.pipeline.sensors import micro_batch_sensor

    return dg.Definitions(assets=[micro_batch], jobs=[micro_batch_job], sensors=[micro_batch_sensor])
