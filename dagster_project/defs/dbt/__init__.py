"""dbt marts as Dagster assets: one lineage graph landing -> core -> ops -> analytics.

* The manifest is prepared outside import (``make manifest`` = ``trackai dbt prepare``). When it is
  missing, ``build_defs`` logs and returns no dbt assets (under ``dagster dev`` it is prepared lazily
  via ``DbtProject.prepare_if_dev()``), so the code location always loads.
* ``TrackaiDbtTranslator``: ``source(schema, table)`` -> ``AssetKey([schema, table])`` (the Python
  assets of ingest/matching/dispatch), models -> ``["analytics", <model>]``; dbt tests -> asset checks.
* Two ``@dbt_assets``: the views (unpartitioned; views are always current, so they are only
  (re)built when missing) and ``analytics_metrics_daily`` (daily partitions, single-run backfills,
  window passed as vars min_date/max_date, refreshed every 5 minutes for the latest day).
* One dbt run against Postgres at a time: ``pool="dbt_postgres"`` on both, the run tag
  ``trackai/concurrency_group=dbt`` (tag concurrency limit 1 in dagster.yaml) and, as the hard guarantee,
  a Postgres advisory lock held around every dbt invocation (dagster_project.lib.dbt_runner).
"""

import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.lib.dbt_runner import (
    DBT_PROJECT_DIR,
    MANIFEST_PATH,
    dbt_env,
    dbt_executable,
    postgres_dbt_lock,
)
from dagster_project.lib.dbt_vars import partition_vars, vars_arg

log = logging.getLogger(__name__)

DBT_POOL = "dbt_postgres"
DBT_RUN_TAGS = {"trackai/concurrency_group": "dbt"}
DAILY_SELECT = "tag:daily"
REFRESH_CRON = "*/5 * * * *"
LATE_DATA_CRON = "30 0 * * *"
AUTOMATION_SENSOR_NAME = "dbt_marts_automation"


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
                return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
            return dg.AssetKey(["analytics", dbt_resource_props["name"]])

        def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
            fqn = dbt_resource_props.get("fqn") or []
            return f"analytics_{fqn[1]}" if len(fqn) > 2 else "analytics"

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


def _dbt_cli_env(context: dg.AssetExecutionContext, postgres) -> str:
    from trackai import db

    url = db.dbt_database_url(default=postgres.url or None)  # role trackai_dbt, never the pipeline role
    os.environ.update(dbt_env(url))
    os.environ.setdefault("DBT_PROFILES_DIR", str(DBT_PROJECT_DIR))
    context.log.info("dbt: one invocation at a time (advisory lock) against %s", url.split("@")[-1])
    return url


def build_defs() -> dg.Definitions:
    project = dbt_project()
    if not MANIFEST_PATH.exists() and not os.path.exists(project.manifest_path):
        log.warning("dbt manifest missing (%s): run `make manifest`; dbt assets skipped", MANIFEST_PATH)
        return dg.Definitions()

    from dagster_dbt import DbtCliResource, dbt_assets

    from dagster_project.lib.resources import PostgresResource

    translator = _translator()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=DAILY_SELECT,
        dagster_dbt_translator=translator,
        pool=DBT_POOL,
        op_tags=DBT_RUN_TAGS,
        name="trackai_dbt_views",
    )
    def trackai_dbt_views(context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource):
        url = _dbt_cli_env(context, postgres)
        with postgres_dbt_lock(url):
            yield from dbt.cli(["build"], context=context).stream()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=DAILY_SELECT,
        dagster_dbt_translator=translator,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DBT_POOL,
        op_tags=DBT_RUN_TAGS,
        name="trackai_dbt_daily",
    )
    def trackai_dbt_daily(context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource):
        url = _dbt_cli_env(context, postgres)
        window = context.partition_time_window
        dbt_vars = partition_vars(window.start, window.end)
        with postgres_dbt_lock(url):
            yield from dbt.cli(["build", *vars_arg(dbt_vars)], context=context).stream()

    automation = dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR_NAME,
        target=dg.AssetSelection.assets(trackai_dbt_views, trackai_dbt_daily),
        run_tags=DBT_RUN_TAGS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Keeps the analytics marts fresh (< 5 min): latest day every 5 minutes.",
    )
    return dg.Definitions(
        assets=[trackai_dbt_views, trackai_dbt_daily],
        sensors=[automation],
        resources={
            "dbt": DbtCliResource(
                project_dir=project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
            )
        },
    )
