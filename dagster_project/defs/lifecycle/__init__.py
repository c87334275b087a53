"""Lifecycle domain (issue 19; docs/backups.md, docs/scaling.md): backups, the restore drill, daily
partitions and the Parquet archive, plus the DuckDB resource that reads the archive.

Assets (group "lifecycle"):
- ``lifecycle/base_backup``: a verified base backup to the object store, then backup retention (daily,
  TRACKAI_LIFECYCLE_BACKUP_CRON). Check ``backup_freshness`` [ERROR]: no good backup / WAL archive too
  old / archiving failing (every 15 minutes).
- ``lifecycle/restore_drill``: restore latest + point in time into isolated servers, compare checksums,
  RPO/RTO as metadata (fortnightly, TRACKAI_LIFECYCLE_DRILL_CRON). A failed drill fails the run and its
  check ``restore_drill_green`` [ERROR]; both reach the alert webhook (quality's alarm_notifier).
- ``lifecycle/daily_partitions``: partitions ahead of today (daily; needs no object store).
- ``lifecycle/parquet_archive``: days past the hot window exported, verified, dropped (daily).

The backup/drill/archive schedules ship RUNNING only when TRACKAI_LIFECYCLE_S3_BUCKET is set.
"""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource

GROUP = keys.LIFECYCLE_GROUP
# the partitioned tables ([schema, table], as every Postgres asset key)
LANDED = list(keys.PARTITIONED_TABLES)
BASE_BACKUP = keys.BASE_BACKUP
RESTORE_DRILL = keys.RESTORE_DRILL
DAILY_PARTITIONS = keys.DAILY_PARTITIONS
PARQUET_ARCHIVE = keys.PARQUET_ARCHIVE
BACKUP_JOB = keys.LIFECYCLE_BACKUP_JOB
DRILL_JOB = keys.LIFECYCLE_DRILL_JOB
PARTITIONS_JOB = keys.LIFECYCLE_PARTITIONS_JOB
ARCHIVE_JOB = keys.LIFECYCLE_ARCHIVE_JOB
FRESHNESS_JOB = keys.LIFECYCLE_FRESHNESS_JOB


class DuckDBArchiveResource(dg.ConfigurableResource):
    """DuckDB over the Parquet archive on the object store (httpfs; trackai.lifecycle.duck)."""

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """SQL over the archive views clicks, identities, conversions, dispatch_attempts (column ``day``)."""
        from trackai.lifecycle import archive

        return archive.query(sql)

    def connect(self):
        from trackai.lifecycle import duck

        return duck.connect()


def _source_url() -> str:
    from trackai import db
    from trackai.settings import get_settings

    return get_settings().lifecycle.backup_database_url or db.database_url()


def _runbook(page: str) -> str:
    from dagster_project.defs.quality.alarms import runbook_url

    return runbook_url(page)


@dg.asset(
    key=BASE_BACKUP,
    group_name=GROUP,
    description="A base backup (pg_basebackup, verified) sealed to the object store; then backup retention.",
    kinds={"postgres", "s3"},
)
def base_backup(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from trackai.lifecycle import basebackup, retention
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import get_settings

    settings = get_settings()
    store = ObjectStore.from_settings("backups", settings)
    info = basebackup.take(_source_url(), settings, store=store)
    pruned = retention.prune(
        store, now=datetime.now(UTC), retention_days=settings.lifecycle.backup_retention_days
    )
    context.log.info("base backup %s; retention: %s", info.backup_id, pruned.as_dict())
    return dg.MaterializeResult(
        metadata={
            "backup_id": info.backup_id,
            "raw_bytes": info.raw_bytes,
            "stored_bytes": info.stored_bytes,
            "duration_s": info.duration_s,
            "stop_lsn": info.stop_lsn,
            "kept_backups": len(pruned.kept_backups),
            "deleted_backups": len(pruned.deleted_backups),
            "deleted_wal": pruned.deleted_wal,
        }
    )


def _health_check(judge_drills: bool, name: str, page: str) -> dg.AssetCheckResult:
    from trackai.lifecycle import health
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import get_settings

    settings = get_settings()
    facts = health.gather(ObjectStore.from_settings("backups", settings), datetime.now(UTC), _source_url())
    result = health.evaluate(facts, settings.lifecycle, judge_drills=judge_drills)
    if judge_drills:  # the drill check judges drills only
        result.problems = [p for p in result.problems if "drill" in p]
        result.passed = not result.problems
    summary = "; ".join(result.problems) or "ok"
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=summary,
        metadata={
            "summary": dg.MetadataValue.text(f"{name}: {summary}"),
            "runbook": dg.MetadataValue.url(_runbook(page)),
            "backup_age_hours": dg.MetadataValue.float(float(result.backup_age_hours or -1)),
            "wal_age_minutes": dg.MetadataValue.float(float(result.wal_age_minutes or -1)),
            "drill_age_days": dg.MetadataValue.float(float(result.drill_age_days or -1)),
        },
    )


@dg.asset_check(
    asset=BASE_BACKUP,
    name="backup_freshness",
    blocking=False,
    description="[ERROR] No good base backup within TRACKAI_LIFECYCLE_BACKUP_MAX_AGE_HOURS, WAL archive older "
    "than TRACKAI_LIFECYCLE_WAL_MAX_LAG_MINUTES, or archive_command failing. Runbook: "
    "docs/runbooks/backup-freshness.md",
)
def backup_freshness() -> dg.AssetCheckResult:
    return _health_check(False, "backup_freshness", "backup-freshness.md")


@dg.asset(
    key=RESTORE_DRILL,
    group_name=GROUP,
    deps=[BASE_BACKUP],
    description="Restore drill: latest and point-in-time restores into isolated servers, identical counts and "
    "checksums, RPO/RTO measured (trackai.lifecycle.drill).",
    kinds={"postgres", "s3"},
)
def restore_drill(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from trackai.lifecycle import drill

    report = drill.run_drill(_source_url())
    context.log.info("restore drill: %s", report.as_dict())
    if not report.ok:
        raise dg.Failure(
            description=f"restore drill failed: {report.error}",
            metadata={"runbook": dg.MetadataValue.url(_runbook("backup-restore-drill.md"))},
        )
    return dg.MaterializeResult(
        metadata={
            "rpo_s": report.rpo_s,
            "rto_s": report.rto_s,
            "duration_s": report.duration_s,
            "checks": dg.MetadataValue.json(report.checks),
        }
    )


@dg.asset_check(
    asset=RESTORE_DRILL,
    name="restore_drill_green",
    blocking=False,
    description="[ERROR] The last restore drill failed, or none passed within TRACKAI_LIFECYCLE_DRILL_MAX_AGE_DAYS. "
    "Runbook: docs/runbooks/backup-restore-drill.md",
)
def restore_drill_green() -> dg.AssetCheckResult:
    return _health_check(True, "restore_drill_green", "backup-restore-drill.md")


@dg.asset(
    key=DAILY_PARTITIONS,
    group_name=GROUP,
    deps=LANDED,
    description="Daily partitions created ahead of today (and days waiting in DEFAULT moved out).",
    kinds={"postgres"},
)
def daily_partitions(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from trackai.lifecycle import partitions
    from trackai.settings import get_settings

    with postgres.connect() as conn:
        created = partitions.ensure_ahead(conn, get_settings().lifecycle.partitions_ahead_days)
    context.log.info("partitions created: %s", created)
    return dg.MaterializeResult(metadata={"created": len(created), "names": dg.MetadataValue.json(created)})


@dg.asset(
    key=PARQUET_ARCHIVE,
    group_name=GROUP,
    deps=[DAILY_PARTITIONS],
    description="Days past the hot window exported to Parquet, verified through DuckDB, then dropped.",
    kinds={"postgres", "s3", "duckdb"},
)
def parquet_archive(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from trackai.lifecycle import archive

    report = archive.retain(postgres.resolved_url())
    context.log.info("archive: %s", report.as_dict())
    if report.failed:
        raise dg.Failure(
            description=f"{len(report.failed)} day(s) not archived (kept in Postgres): "
            + "; ".join(f"{d.parent} {d.day}: {d.error}" for d in report.failed)[:2000],
            metadata={"runbook": dg.MetadataValue.url(_runbook("backup-freshness.md"))},
        )
    return dg.MaterializeResult(
        metadata={
            "days_archived": sum(d.dropped for d in report.days),
            "rows": sum(d.rows for d in report.days),
            "bytes": sum(d.bytes for d in report.days),
        }
    )


def build_defs() -> dg.Definitions:
    from dagster_project.defs.quality import no_run_in_flight
    from trackai.settings import get_settings

    cfg = get_settings().lifecycle
    with_store = dg.DefaultScheduleStatus.RUNNING if cfg.s3_bucket else dg.DefaultScheduleStatus.STOPPED
    tags = keys.LIFECYCLE_RUN_TAGS
    backup_job = dg.define_asset_job(BACKUP_JOB, selection=[BASE_BACKUP], tags=tags)
    drill_job = dg.define_asset_job(DRILL_JOB, selection=[RESTORE_DRILL], tags=tags)
    partitions_job = dg.define_asset_job(PARTITIONS_JOB, selection=[DAILY_PARTITIONS], tags=tags)
    archive_job = dg.define_asset_job(ARCHIVE_JOB, selection=[DAILY_PARTITIONS, PARQUET_ARCHIVE], tags=tags)
    freshness_job = dg.define_asset_job(
        FRESHNESS_JOB, selection=dg.AssetSelection.checks(backup_freshness, restore_drill_green), tags=tags
    )
    schedule = dg.ScheduleDefinition
    return dg.Definitions(
        assets=[base_backup, restore_drill, daily_partitions, parquet_archive],
        asset_checks=[backup_freshness, restore_drill_green],
        jobs=[backup_job, drill_job, partitions_job, archive_job, freshness_job],
        schedules=[
            schedule(
                name="lifecycle_backup_daily",
                job=backup_job,
                cron_schedule=cfg.backup_cron,
                should_execute=no_run_in_flight(BACKUP_JOB),
                default_status=with_store,
            ),
            schedule(
                name="lifecycle_restore_drill_fortnightly",
                job=drill_job,
                cron_schedule=cfg.drill_cron,
                should_execute=no_run_in_flight(DRILL_JOB),
                default_status=with_store,
            ),
            schedule(
                name="lifecycle_partitions_daily",
                job=partitions_job,
                cron_schedule="15 0 * * *",
                should_execute=no_run_in_flight(PARTITIONS_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            schedule(
                name="lifecycle_archive_daily",
                job=archive_job,
                cron_schedule=cfg.archive_cron,
                should_execute=no_run_in_flight(ARCHIVE_JOB),
                default_status=with_store,
            ),
            schedule(
                name="lifecycle_backup_freshness_every_15_minutes",
                job=freshness_job,
                cron_schedule="*/15 * * * *",
                should_execute=no_run_in_flight(FRESHNESS_JOB),
                default_status=with_store,
            ),
        ],
        resources={"duckdb_archive": DuckDBArchiveResource()},
    )
