"""dbt marts as Dagster assets: one lineage graph landing -> core -> ops -> analytics.

* The manifest is prepared outside import (``make manifest`` = ``trackai dbt prepare``). When it is
  missing, ``build_defs`` logs and returns no dbt assets (under ``dagster dev`` it is prepared lazily
  via ``DbtProject.prepare_if_dev()``), so the code location always loads.
* ``TrackaiDbtTranslator``: ``source(schema, table)`` -> ``keys.table_key(schema, table)``, the keys of the
  Python and external assets (dagster_project.defs.sources, pipeline, dispatch); models ->
  ``["analytics", <model>]`` in group ``analytics_<folder>``; dbt tests -> asset checks.
* Two ``@dbt_assets``: the views (unpartitioned) and the daily tables (tag ``daily``: daily partitions,
  single-run backfills, window passed as vars min_date/max_date). Both are steps of every
  ``micro_batch_job`` run, after dispatch: the views step starts dbt only when a view's definition changed
  or a view is missing (else it records them current: a view's rows follow its tables), the daily step
  when a partition of the run was not rebuilt in the last 5 minutes. The automation sensor also refreshes
  the latest day every 5 minutes (clicks, late dispatch results) and builds missing views.
* One dbt invocation against Postgres at a time: ``pool="dbt_postgres"`` on both, the run tag
  ``trackai/concurrency_group=dbt`` on automation runs (tag concurrency limit 1 in dagster.yaml) and, as the
  hard guarantee, a Postgres advisory lock held around every dbt invocation.
* The connection: the ``dbt`` resource (``TrackaiDbtCliResource``) gives the dbt process the TRACKAI_DBT_*
  variables profiles.yml reads; nothing is written to the run worker's environment.
"""

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.lib import keys
from dagster_project.lib.dbt_runner import DBT_PROJECT_DIR, MANIFEST_PATH
from dagster_project.lib.dbt_vars import partition_vars, vars_arg

log = logging.getLogger(__name__)

DAILY_SELECT = "tag:daily"
REFRESH_CRON = "*/5 * * * *"
LATE_DATA_CRON = "30 0 * * *"


def every_five_minutes_latest_day() -> dg.AutomationCondition:
    """Latest daily partition on every 5-minute cron tick, plus yesterday once at 00:30 UTC (late
    dispatch results / status changes); never while a run of the asset is in progress.

    (``on_cron`` would also wait for every dep to update after the tick; our deps are views and
    Python assets on their own cadence, so we only gate on the clock.)
    """
    today = dg.AutomationCondition.in_latest_time_window() & dg.AutomationCondition.cron_tick_passed(
        REFRESH_CRON, "UTC"
    )
    # the latest window is today's partition (end_offset=1): a 2-day lookback adds yesterday
    yesterday = dg.AutomationCondition.in_latest_time_window(
        timedelta(days=2)
    ) & dg.AutomationCondition.cron_tick_passed(LATE_DATA_CRON, "UTC")
    return ((today | yesterday) & ~dg.AutomationCondition.in_progress()).with_label(
        f"latest day every 5 minutes ({REFRESH_CRON}); yesterday again at {LATE_DATA_CRON}"
    )


def _translator():
    from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

    class TrackaiDbtTranslator(DagsterDbtTranslator):
        def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
            if dbt_resource_props["resource_type"] == "source":
                return keys.table_key(dbt_resource_props["schema"], dbt_resource_props["name"])
            return keys.model_key(dbt_resource_props["name"])

        def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
            fqn = dbt_resource_props.get("fqn") or []
            return keys.analytics_group(fqn[1] if len(fqn) > 2 else None)

        def get_automation_condition(
            self, dbt_resource_props: Mapping[str, Any]
        ) -> dg.AutomationCondition | None:
            if "daily" in (dbt_resource_props.get("tags") or []):
                return every_five_minutes_latest_day()
            return dg.AutomationCondition.on_missing()

    return TrackaiDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@cache
def dbt_project():
    from dagster_dbt import DbtProject

    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if os.environ.get("DAGSTER_IS_DEV_CLI"):
        project.prepare_if_dev()
    return project


DEFINITION_METADATA = "trackai/dbt_definition"
DAILY_REFRESH_SECONDS = 300  # in a micro-batch, a daily partition rebuilt less than this ago is left alone


def _in_micro_batch(context: dg.AssetExecutionContext) -> bool:
    """A micro_batch_job run without dbt tests: the only runs where the dbt steps may skip dbt. Anything
    else (the automation, a UI materialisation, a run with checks) always runs dbt."""
    return context.run.job_name == keys.MICRO_BATCH_JOB and not context.selected_asset_check_keys


# One look per micro-batch run: which views are stale (materialised from another definition, or never) and
# which are missing in Postgres, for every view of the project. The run's later view steps (the views are
# split into steps around the pipeline and daily steps) reuse it instead of asking the instance and
# Postgres again. Keyed by run id; only the latest few runs are kept.
_VIEW_STATE: dict[tuple[str, str], tuple[frozenset[dg.AssetKey], frozenset[dg.AssetKey]]] = {}
_VIEW_STATE_RUNS = 4


def _view_state(
    context: dg.AssetExecutionContext, dbt, manifest: dict, fingerprint: str
) -> tuple[frozenset[dg.AssetKey], frozenset[dg.AssetKey]]:
    """(stale, missing) over every non-daily model of the project, computed once per run."""
    import psycopg

    from dagster_project.lib.dbt_views import missing_views, relation_of

    run_id = (context.run_id, fingerprint)
    if run_id in _VIEW_STATE:
        return _VIEW_STATE[run_id]
    # every view model of the project (a step's assets_def is only its subset), from the manifest
    project = manifest["metadata"]["project_name"]
    relation_key = {
        relation_of(manifest, uid): keys.model_key(node["name"])
        for uid, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
        and node.get("package_name") == project
        and "daily" not in (node.get("tags") or [])
    }
    every = set(relation_key.values()) | set(context.selected_asset_keys)
    latest = context.instance.get_latest_materialization_events(every)
    stale = set()
    for key in every:
        event = latest.get(key)
        value = event.asset_materialization.metadata.get(DEFINITION_METADATA) if event else None
        if getattr(value, "value", None) != fingerprint:
            stale.add(key)
    with psycopg.connect(dbt.connection_url(), autocommit=True) as conn:
        missing = {relation_key[tuple(name.split(".", 1))] for name in missing_views(conn, relation_key)}
    state = (frozenset(stale), frozenset(missing))
    _VIEW_STATE[run_id] = state
    for old in list(_VIEW_STATE)[:-_VIEW_STATE_RUNS]:
        del _VIEW_STATE[old]
    return state


def _rebuild_reason(context: dg.AssetExecutionContext, dbt, manifest: dict, fingerprint: str) -> str | None:
    """Why the selected views need dbt in this micro-batch, or None when their definitions are current:
    each was last materialised from this project definition and exists in Postgres."""
    selected = context.selected_asset_keys
    stale, missing = _view_state(context, dbt, manifest, fingerprint)
    if stale & selected:
        names = ", ".join(sorted(k.to_user_string() for k in stale & selected))
        return f"definition changed or never built here: {names}"
    if missing & selected:
        names = ", ".join(sorted(k.to_user_string() for k in missing & selected))
        return f"missing in Postgres: {names}"
    return None


def _views_current(context: dg.AssetExecutionContext, fingerprint: str):
    """A view's rows follow its upstream tables: after this run's writes, each selected view is current
    without DDL. Recorded as a materialisation (what the UI and the freshness of the marts read)."""
    from graphlib import TopologicalSorter

    selected = context.selected_asset_keys
    context.log.info("dbt views: definitions unchanged, %d views current without dbt", len(selected))
    deps = context.assets_def.asset_deps
    order = TopologicalSorter({key: deps.get(key, set()) & selected for key in selected}).static_order()
    for key in order:  # a multi-asset yields its outputs upstream first
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={DEFINITION_METADATA: fingerprint, "rebuilt": False},
        )


def _daily_refreshed_recently(context: dg.AssetExecutionContext) -> bool:
    """In a micro-batch, the daily tables are rebuilt at most every DAILY_REFRESH_SECONDS per partition
    (the automation's cadence): True when every selected table has every partition of this run
    materialised that recently, so this run's dbt process (about 5 s) is skipped; the next micro-batch
    or the 5-minute automation picks up this run's rows."""
    import time

    partitions = set(context.partition_keys)
    since = time.time() - DAILY_REFRESH_SECONDS
    for key in context.selected_asset_keys:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=sorted(partitions), after_timestamp=since),
            limit=len(partitions) * 50,
        ).records
        if {r.partition_key for r in records} != partitions:
            return False
    context.log.info(
        "dbt daily: %s refreshed less than %d s ago; left to the next run",
        ", ".join(sorted(partitions)),
        DAILY_REFRESH_SECONDS,
    )
    return True


def _with_definition(event, fingerprint: str):
    """Tag what dbt built with the definition it was built from (read by ``_rebuild_reason``)."""
    if isinstance(event, dg.Output):
        return event.with_metadata({**event.metadata, DEFINITION_METADATA: fingerprint, "rebuilt": True})
    return event


def build_defs() -> dg.Definitions:
    project = dbt_project()
    if not MANIFEST_PATH.exists() and not os.path.exists(project.manifest_path):
        log.warning("dbt manifest missing (%s): run `make manifest`; dbt assets skipped", MANIFEST_PATH)
        return dg.Definitions()

    from dagster_dbt import dbt_assets
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

    from dagster_project.lib.dbt_resource import TrackaiDbtCliResource, dbt_resource
    from dagster_project.lib.dbt_views import definition_fingerprint

    translator = _translator()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=DAILY_SELECT,
        dagster_dbt_translator=translator,
        pool=keys.DBT_POOL,
        name="trackai_dbt_views",
    )
    def trackai_dbt_views(context: dg.AssetExecutionContext, dbt: TrackaiDbtCliResource):
        # the manifest these assets were built from, not the file as another `dbt parse` may have left it
        manifest = get_manifest_and_translator_from_dbt_assets([context.assets_def])[0]
        fingerprint = definition_fingerprint(manifest)
        if _in_micro_batch(context):
            reason = _rebuild_reason(context, dbt, manifest, fingerprint)
            if reason is None:
                yield from _views_current(context, fingerprint)
                return
            context.log.info("dbt views: rebuilding (%s)", reason)
        for event in dbt.build(context, ["build"]):
            yield _with_definition(event, fingerprint)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=DAILY_SELECT,
        dagster_dbt_translator=translator,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=keys.DBT_POOL,
        name="trackai_dbt_daily",
    )
    def trackai_dbt_daily(context: dg.AssetExecutionContext, dbt: TrackaiDbtCliResource):
        if _in_micro_batch(context) and _daily_refreshed_recently(context):
            return
        window = context.partition_time_window
        yield from dbt.build(context, ["build", *vars_arg(partition_vars(window.start, window.end))])

    automation = dg.AutomationConditionSensorDefinition(
        keys.DBT_AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(trackai_dbt_views, trackai_dbt_daily),
        run_tags=keys.DBT_RUN_TAGS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Keeps the analytics marts fresh (< 5 min): latest day every 5 minutes.",
    )
    return dg.Definitions(
        assets=[trackai_dbt_views, trackai_dbt_daily],
        sensors=[automation],
        resources={"dbt": dbt_resource(project)},
    )
