"""Every name the Dagster code location shares: asset keys, groups, pools, run tags, job and sensor names.

Definitions (``defs/``), ``runner.py``, sensors, the dbt translator and tests import them from here, so a
key or a tag is spelled once. Python asset keys mirror Postgres: ``[schema, table]`` (``table_key``), which
is also how the dbt translator maps ``source(schema, table)``; dbt models are ``["analytics", model]``.
"""

from __future__ import annotations

import dagster as dg


def table_key(schema: str, table: str) -> dg.AssetKey:
    """The asset key of a Postgres table: the Python assets and the dbt sources use this one rule."""
    return dg.AssetKey([schema, table])


# --- tables written outside Dagster (external assets) --------------------------------------------------
# by the ingest service
CLICKS = table_key("landing", "clicks")
IDENTITIES = table_key("landing", "identities")
WEBHOOK_EVENTS = table_key("landing", "webhook_events")
CONVERSIONS = table_key("landing", "conversions")
WEBHOOK_REJECTIONS = table_key("landing", "webhook_rejections")
# by `trackai tenants ...` / the console
TENANTS = table_key("core", "tenants")
TENANT_SECRETS = table_key("core", "tenant_secrets")
# not a table: the Postgres server itself, target of the connection-count alarm
POSTGRES_SERVER = table_key("ops", "postgres_server")

# --- the micro-batch (one transaction) ---------------------------------------------------------------
PURCHASES = table_key("core", "purchases")
MATCHES = table_key("core", "matches")
DEDUPE_REGISTRY = table_key("core", "dedupe_registry")

# --- verification of static-token gateways' purchases (dagster_project/defs/verification) ----------
PURCHASE_VERIFICATIONS = table_key("core", "purchase_verifications")

# --- Meta's own match quality, pulled daily (dagster_project/defs/match_quality) ---------------------
META_DATASET_QUALITY = table_key("ops", "meta_dataset_quality")


# --- dispatch to Meta (one step) ---------------------------------------------------------------------
DISPATCH_QUEUE = table_key("ops", "dispatch_queue")
DISPATCH_ATTEMPTS = table_key("ops", "dispatch_attempts")
DLQ = table_key("ops", "dlq")
CIRCUIT_BREAKERS = table_key("ops", "circuit_breakers")
META_TOKEN_STATUS = table_key("ops", "meta_token_status")

# --- lifecycle: backups, drill, partitions, archive (dagster_project/defs/lifecycle) -----------------
LIFECYCLE_PREFIX = "lifecycle"
BASE_BACKUP = dg.AssetKey([LIFECYCLE_PREFIX, "base_backup"])
RESTORE_DRILL = dg.AssetKey([LIFECYCLE_PREFIX, "restore_drill"])
DAILY_PARTITIONS = dg.AssetKey([LIFECYCLE_PREFIX, "daily_partitions"])
PARQUET_ARCHIVE = dg.AssetKey([LIFECYCLE_PREFIX, "parquet_archive"])
# the tables cut into daily partitions (sql/07*)
PARTITIONED_TABLES = (CLICKS, IDENTITIES, CONVERSIONS, DISPATCH_ATTEMPTS)

# --- dbt ---------------------------------------------------------------------------------------------
ANALYTICS_PREFIX = "analytics"


def model_key(model: str) -> dg.AssetKey:
    """The asset key of a dbt model (schema ``analytics``)."""
    return dg.AssetKey([ANALYTICS_PREFIX, model])


ANALYTICS_METRICS_DAILY = model_key("analytics_metrics_daily")

# --- groups (the boxes of the lineage graph) ---------------------------------------------------------
LANDING_GROUP = "landing"  # ingest-service tables
CONFIG_GROUP = "config"  # sellers and their secrets
PLATFORM_GROUP = "platform"  # the database server
PIPELINE_GROUP = "pipeline"  # micro-batch + dispatch: everything micro_batch_job materialises before dbt
MATCH_QUALITY_GROUP = "match_quality"  # Meta's EMQ beside ours
LIFECYCLE_GROUP = "lifecycle"  # backups, restore drill, partitions, archive


def analytics_group(dbt_folder: str | None) -> str:
    """dbt models are grouped by their folder: analytics_staging, analytics_marts."""
    return f"{ANALYTICS_PREFIX}_{dbt_folder}" if dbt_folder else ANALYTICS_PREFIX


# --- jobs, sensors ----------------------------------------------------------------------------------
MICRO_BATCH_JOB = "micro_batch_job"
MICRO_BATCH_SENSOR = "micro_batch_sensor"
DLQ_REPLAY_JOB = "dlq_replay_job"
DISPATCH_DUE_JOB = "dispatch_due_job"
DISPATCH_DUE_SENSOR = "dispatch_due_sensor"
QUALITY_ALARMS_JOB = "quality_alarms_job"
QUALITY_CONTRACTS_JOB = "quality_contracts_job"
DBT_AUTOMATION_SENSOR = "dbt_marts_automation"
ALARM_NOTIFIER_SENSOR = "alarm_notifier"
# Check metadata flag: the check alerts people itself, so alarm_notifier stays quiet (one failure, one page).
SELF_NOTIFYING = "self_notifying"
VERIFICATION_ALARM_JOB = "verification_alarm_job"
VERIFICATION_ALARM_SCHEDULE = "verification_alarm_every_5_minutes"
META_QUALITY_JOB = "meta_quality_job"
META_QUALITY_SCHEDULE = "meta_quality_daily"
LIFECYCLE_BACKUP_JOB = "lifecycle_backup_job"
LIFECYCLE_DRILL_JOB = "lifecycle_restore_drill_job"
LIFECYCLE_PARTITIONS_JOB = "lifecycle_partitions_job"
LIFECYCLE_ARCHIVE_JOB = "lifecycle_archive_job"
LIFECYCLE_FRESHNESS_JOB = "lifecycle_backup_freshness_job"

# --- pools (step-level limits, dagster_home/dagster.yaml: every pool holds one step at a time) ---------
# Pools bind every run that executes the step, whatever launched it: the sensor, `trackai pipeline run`
# (in-process runs claim slots too), a job backfill or a UI asset backfill (`__ASSET_JOB`).
MICRO_BATCH_POOL = "trackai_micro_batch"  # the micro-batch and the dispatch step
DBT_POOL = "dbt_postgres"  # any dbt invocation (dbt-postgres breaks on concurrent DDL in one schema)

# --- run tags -----------------------------------------------------------------------------------------
# Written by the sensor and `trackai pipeline run`; without trackai/watermark_to a run recomputes its window.
TAG_MODE = "trackai/mode"
TAG_WATERMARK_TO = "trackai/watermark_to"
MODE_INCREMENTAL = "incremental"
MODE_RECOMPUTE = "recompute"
# Run-level limits in dagster_home/dagster.yaml (tag_concurrency_limits).
CONCURRENCY_TAG = "trackai/concurrency_group"
MICRO_BATCH_CONCURRENCY = "micro_batch"
DBT_CONCURRENCY = "dbt"
KIND_TAG = "trackai/kind"
PRIORITY_TAG = "dagster/priority"
# Dagster's own tags for a run over a partition range.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

MICRO_BATCH_RUN_TAGS = {CONCURRENCY_TAG: MICRO_BATCH_CONCURRENCY, PRIORITY_TAG: "10"}
DBT_RUN_TAGS = {CONCURRENCY_TAG: DBT_CONCURRENCY}
ALARMS_RUN_TAGS = {KIND_TAG: "alarms"}
CONTRACTS_RUN_TAGS = {KIND_TAG: "contracts"}
LIFECYCLE_RUN_TAGS = {KIND_TAG: "lifecycle"}
