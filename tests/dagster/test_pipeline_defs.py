"""The code location loads lazily; its lineage, jobs, pools and backfill policies are the documented ones."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.lib import keys
from dagster_project.runner import pipeline_only_definitions


@pytest.fixture(scope="module")
def full_defs() -> dg.Definitions:
    """The whole code location, as `dagster dev` and every run worker load it."""
    from dagster_project.definitions import build_all_defs
    from dagster_project.lib import dbt_runner

    if not dbt_runner.MANIFEST_PATH.exists():
        dbt_runner.prepare()
    return build_all_defs()


def _upstream(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen: set[dg.AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_definitions_module_is_lazy():
    import dagster_project.definitions as module

    assert not isinstance(module.defs, dg.Definitions)  # a @definitions function, built on load


def test_every_asset_is_described_and_sits_in_its_domain_group(full_defs):
    graph = full_defs.resolve_asset_graph()
    nodes = {key: graph.get(key) for key in graph.get_all_asset_keys()}
    assert [k.to_user_string() for k, n in nodes.items() if n.group_name == "default"] == []
    assert [k.to_user_string() for k, n in nodes.items() if not (n.description or "").strip()] == []
    # tables the pipeline writes are materialised by its steps; the ones it only reads are external
    groups = {key: node.group_name for key, node in nodes.items()}
    for key in (keys.PURCHASES, keys.MATCHES, keys.DEDUPE_REGISTRY, keys.DISPATCH_QUEUE, keys.DLQ):
        assert groups[key] == keys.PIPELINE_GROUP and nodes[key].is_materializable, key
    for key in (keys.CLICKS, keys.CONVERSIONS, keys.WEBHOOK_REJECTIONS):
        assert groups[key] == keys.LANDING_GROUP and not nodes[key].is_materializable, key
    assert groups[keys.TENANTS] == groups[keys.TENANT_SECRETS] == keys.CONFIG_GROUP


def test_marts_are_downstream_of_the_steps_that_write_their_sources(full_defs):
    graph = full_defs.resolve_asset_graph()
    dispatched = _upstream(graph, keys.model_key("fct_dispatched_events"))
    assert {keys.DISPATCH_QUEUE, keys.DEDUPE_REGISTRY, keys.MATCHES, keys.CONVERSIONS} <= dispatched
    assert keys.DLQ in _upstream(graph, keys.ANALYTICS_METRICS_DAILY)
    assert keys.TENANTS in _upstream(graph, keys.model_key("dim_tenants"))
    assert keys.WEBHOOK_REJECTIONS in graph.get(keys.model_key("stg_landing__webhook_rejections")).parent_keys


def test_jobs_select_run_and_tag_what_they_document(full_defs):
    graph = full_defs.resolve_asset_graph()
    every_key = graph.get_all_asset_keys()
    models = {k for k in every_key if k.path[0] == keys.ANALYTICS_PREFIX}
    pipeline = {k for k in every_key if graph.get(k).group_name == keys.PIPELINE_GROUP}
    assert models and pipeline >= {keys.PURCHASES, keys.DISPATCH_QUEUE}

    micro = full_defs.resolve_job_def(keys.MICRO_BATCH_JOB)
    assert micro.asset_layer.executable_asset_keys == pipeline | models
    assert micro.asset_layer.asset_graph.asset_check_keys == set()  # checks run on their own schedules
    assert micro.executor_def is dg.in_process_executor
    assert micro.tags == keys.MICRO_BATCH_RUN_TAGS
    assert micro.partitions_def is not None and micro.partitions_def.get_first_partition_key()

    alarm_checks = full_defs.resolve_job_def(keys.QUALITY_ALARMS_JOB)
    assert alarm_checks.asset_layer.executable_asset_keys == set()
    assert {k.name for k in alarm_checks.asset_layer.asset_graph.asset_check_keys} >= {
        "dlq_depth",
        "db_connections",
    }
    assert alarm_checks.tags == keys.ALARMS_RUN_TAGS
    contracts = full_defs.resolve_job_def(keys.QUALITY_CONTRACTS_JOB)
    assert {k.name for k in contracts.asset_layer.asset_graph.asset_check_keys} == {
        "conversions_contract",
        "clicks_contract",
        "dispatch_attempts_contract",
    }
    assert set(full_defs.resolve_job_def(keys.DLQ_REPLAY_JOB).graph.node_dict) == {"replay_dlq"}

    assert full_defs.resolve_sensor_def(keys.MICRO_BATCH_SENSOR).job_name == keys.MICRO_BATCH_JOB
    for name in (keys.DBT_AUTOMATION_SENSOR, keys.ALARM_NOTIFIER_SENSOR):
        assert full_defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    schedules = {s.name: s.job_name for s in full_defs.get_repository_def().schedule_defs}
    assert schedules["quality_alarms_every_minute"] == keys.QUALITY_ALARMS_JOB
    assert {"postgres", "meta_capi", "dbt", "alarm_thresholds", "alert_notifier"} <= set(full_defs.resources)


def test_write_steps_share_one_pool_and_backfill_one_day_per_run(full_defs):
    """What binds a UI asset backfill (``__ASSET_JOB``, none of micro_batch_job's tags) to the CLI's limits."""
    from dagster_project.defs.dispatch import replay_dlq

    graph = full_defs.resolve_asset_graph()
    micro = full_defs.resolve_assets_def(keys.PURCHASES)
    dispatch = full_defs.resolve_assets_def(keys.DISPATCH_QUEUE)
    assert micro.op.pool == dispatch.op.pool == replay_dlq.pool == keys.MICRO_BATCH_POOL
    assert micro.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
    daily = full_defs.resolve_assets_def(keys.ANALYTICS_METRICS_DAILY)
    views = full_defs.resolve_assets_def(keys.model_key("fct_dispatched_events"))
    assert daily.op.pool == views.op.pool == keys.DBT_POOL
    assert daily.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(keys.ANALYTICS_METRICS_DAILY).partitions_def == graph.get(keys.PURCHASES).partitions_def


def test_pipeline_domain_lineage_and_partitions():
    from dagster_project.defs.partitions import daily_partitions

    defs = pipeline_only_definitions()
    graph = defs.resolve_asset_graph()
    assert graph.get(keys.MATCHES).parent_keys == {keys.PURCHASES, keys.CLICKS, keys.IDENTITIES}
    assert graph.get(keys.DEDUPE_REGISTRY).parent_keys == {keys.PURCHASES, keys.MATCHES}
    for key in (keys.PURCHASES, keys.MATCHES, keys.DEDUPE_REGISTRY):
        assert graph.get(key).partitions_def == daily_partitions
    for key in (keys.CLICKS, keys.IDENTITIES, keys.CONVERSIONS, keys.WEBHOOK_EVENTS):
        assert graph.get(key).group_name == keys.LANDING_GROUP
    job = defs.resolve_job_def(keys.MICRO_BATCH_JOB)
    assert job.partitions_def == daily_partitions
    assert job.asset_layer.executable_asset_keys == {keys.PURCHASES, keys.MATCHES, keys.DEDUPE_REGISTRY}
    sensor = defs.resolve_sensor_def(keys.MICRO_BATCH_SENSOR)
    assert sensor.minimum_interval_seconds == 60
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_resources_take_environment_variables_unresolved(setenv):
    """The code location passes set variables as dg.EnvVar (resolved by Dagster at use, shown by name in
    the UI); unset ones leave the field empty and Settings decides when the resource is used."""
    from dagster_project.defs.dispatch import build_defs as dispatch_defs
    from dagster_project.lib.resources import MetaCapiResource

    setenv("TRACKAI_META_GRAPH_URL", "http://127.0.0.1:9/graph")
    meta = dispatch_defs().resources["meta_capi"]
    assert isinstance(meta.graph_url, dg.EnvVar) and meta.graph_url.env_var_name == "TRACKAI_META_GRAPH_URL"
    assert meta.api_version == ""  # TRACKAI_META_API_VERSION unset: Settings' default when a run uses it

    setenv("TRACKAI_META_API_VERSION", "v99.0")
    setenv("TRACKAI_CAPI_TIMEOUT_SECONDS", "2.5")
    settings = MetaCapiResource().settings()
    assert (settings.meta_graph_url, settings.meta_api_version) == ("http://127.0.0.1:9/graph", "v99.0")
    assert settings.capi.timeout_seconds == 2.5
    pinned = MetaCapiResource(graph_url="http://127.0.0.1:8/x", timeout_seconds=0.2).settings()
    assert (pinned.meta_graph_url, pinned.capi.timeout_seconds) == ("http://127.0.0.1:8/x", 0.2)
    assert pinned.capi.batch_size == settings.capi.batch_size
