"""The code location loads lazily and every job, sensor and schedule resolves."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.pipeline.assets import DEDUPE_REGISTRY, MATCHES, PIPELINE_GROUP, PURCHASES
from dagster_project.defs.pipeline.jobs import MICRO_BATCH_JOB_NAME
from dagster_project.defs.pipeline.sensors import SENSOR_NAME
from dagster_project.runner import pipeline_only_definitions


def test_definitions_module_is_lazy():
    import dagster_project.definitions as module

    assert not isinstance(module.defs, dg.Definitions)  # a @definitions function, built on load


def test_full_code_location_resolves_every_job_sensor_and_schedule():
    from dagster_project.definitions import build_all_defs

    defs = build_all_defs()
    defs.resolve_all_job_defs()
    for job in defs.resolve_all_job_defs():
        assert job.name
    for sensor in defs.sensors or []:
        assert defs.resolve_sensor_def(sensor.name)
    for schedule in defs.schedules or []:
        assert defs.resolve_schedule_def(schedule.name)
    graph = defs.resolve_asset_graph()
    for key in (PURCHASES, MATCHES, DEDUPE_REGISTRY):
        assert graph.get(key).group_name == PIPELINE_GROUP
    assert defs.resolve_sensor_def(SENSOR_NAME).job_name == MICRO_BATCH_JOB_NAME
    assert "postgres" in defs.resources


def test_pipeline_domain_lineage_and_partitions():
    from dagster_project.defs.partitions import daily_partitions

    defs = pipeline_only_definitions()
    graph = defs.resolve_asset_graph()
    assert graph.get(MATCHES).parent_keys >= {PURCHASES, dg.AssetKey(["landing", "clicks"])}
    assert (
        PURCHASES in graph.get(DEDUPE_REGISTRY).parent_keys
        or MATCHES in graph.get(DEDUPE_REGISTRY).parent_keys
    )
    for key in (PURCHASES, MATCHES, DEDUPE_REGISTRY):
        assert graph.get(key).partitions_def == daily_partitions
    for key in ("clicks", "identities", "conversions", "webhook_events"):
        assert graph.get(dg.AssetKey(["landing", key])).group_name == "landing"
    job = defs.resolve_job_def(MICRO_BATCH_JOB_NAME)
    assert job.partitions_def == daily_partitions
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_micro_batch_job_runs_no_asset_checks_and_outranks_other_queued_runs():
    import dagster as dg

    from dagster_project.definitions import build_all_defs
    from dagster_project.defs.pipeline.assets import PIPELINE_GROUP

    defs = build_all_defs()
    graph = defs.resolve_asset_graph()
    job = next(j for j in defs.jobs if j.name == "micro_batch_job")
    assert dg.AssetSelection.groups(PIPELINE_GROUP).resolve_checks(graph)  # the group does carry checks
    assert job.selection.resolve_checks(graph) == set()  # ...which run on the quality schedules instead
    assert job.selection.resolve(graph) == dg.AssetSelection.groups(PIPELINE_GROUP).resolve(graph)
    assert job.tags["dagster/priority"] == "10"
