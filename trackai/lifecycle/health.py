"""Is there a good backup? The evaluation behind the backup freshness alarm (Dagster asset check) and
``trackai backup status``: one pure function over facts gathered from the store and the source.

ERROR when any of: no complete base backup, or the newest is older than ``backup_max_age_hours``; the
newest archived WAL segment is older than ``wal_max_lag_minutes`` while the server has written WAL since;
the server reports archiving failures newer than its last success; the newest drill failed, or none
passed within ``drill_max_age_days``. Runbook: docs/runbooks/backup-freshness.md (drills:
docs/runbooks/backup-restore-drill.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import psycopg

from trackai.lifecycle import basebackup, drill
from trackai.lifecycle.store import ObjectStore
from trackai.settings import LifecycleSettings


@dataclass
class BackupFacts:
    now: datetime
    newest_backup_end: datetime | None
    newest_wal_upload: datetime | None
    server_last_archived: datetime | None = None
    server_last_failed: datetime | None = None
    server_wal_since_archived: bool = True
    last_drill_at: datetime | None = None
    last_drill_ok: bool | None = None
    last_green_drill_at: datetime | None = None


@dataclass
class BackupHealth:
    passed: bool
    problems: list[str] = field(default_factory=list)
    backup_age_hours: float | None = None
    wal_age_minutes: float | None = None
    drill_age_days: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(facts: BackupFacts, cfg: LifecycleSettings, *, judge_drills: bool = True) -> BackupHealth:
    problems: list[str] = []
    health = BackupHealth(passed=True)
    if facts.newest_backup_end is None:
        problems.append("no complete base backup in the store")
    else:
        health.backup_age_hours = round((facts.now - facts.newest_backup_end).total_seconds() / 3600, 2)
        if health.backup_age_hours > cfg.backup_max_age_hours:
            problems.append(
                f"newest base backup is {health.backup_age_hours} h old (max {cfg.backup_max_age_hours})"
            )
    if facts.newest_wal_upload is None:
        problems.append("no WAL segment in the archive")
    else:
        health.wal_age_minutes = round((facts.now - facts.newest_wal_upload).total_seconds() / 60, 2)
        if health.wal_age_minutes > cfg.wal_max_lag_minutes and facts.server_wal_since_archived:
            problems.append(
                f"newest archived WAL is {health.wal_age_minutes} min old (max {cfg.wal_max_lag_minutes}) "
                "while the server wrote WAL since"
            )
    if facts.server_last_failed and (
        facts.server_last_archived is None or facts.server_last_failed > facts.server_last_archived
    ):
        problems.append(
            f"the server's archive_command is failing (last failure {facts.server_last_failed.isoformat()})"
        )
    if judge_drills:
        if facts.last_drill_ok is False:
            problems.append(f"the last restore drill ({facts.last_drill_at.isoformat()}) failed")
        if facts.last_green_drill_at is None:
            problems.append("no restore drill has passed")
        else:
            health.drill_age_days = round((facts.now - facts.last_green_drill_at).total_seconds() / 86400, 2)
            if health.drill_age_days > cfg.drill_max_age_days:
                problems.append(f"last green restore drill is {health.drill_age_days} days old")
    health.problems = problems
    health.passed = not problems
    return health


def gather(store: ObjectStore, now: datetime, source_url: str | None = None) -> BackupFacts:
    """Facts from the store (and, when given, the source's pg_stat_archiver). "Wrote WAL since" means the
    current segment is past the last archived one and has more than its first page: an idle server
    switches no segment, so an old newest segment is then no alarm."""
    backups = basebackup.list_backups(store)
    wal_times = [o["modified"] for o in store.list("wal/")]
    facts = BackupFacts(
        now=now,
        newest_backup_end=backups[-1].ended if backups else None,
        newest_wal_upload=max(wal_times) if wal_times else None,
    )
    drills = drill.last_drills(store)
    if drills:
        facts.last_drill_at = datetime.fromisoformat(drills[-1]["started_at"])
        facts.last_drill_ok = bool(drills[-1]["ok"])
        green = [d for d in drills if d["ok"]]
        facts.last_green_drill_at = datetime.fromisoformat(green[-1]["started_at"]) if green else None
    if source_url:
        with psycopg.connect(source_url) as conn:
            row = conn.execute(
                """
                SELECT last_archived_time, last_failed_time,
                       last_archived_wal IS NULL
                       OR (pg_walfile_name(pg_current_wal_lsn()) > last_archived_wal
                           AND (pg_walfile_name_offset(pg_current_wal_lsn())).file_offset > 8192)
                  FROM pg_stat_archiver
                """
            ).fetchone()
        facts.server_last_archived, facts.server_last_failed, facts.server_wal_since_archived = row
    return facts
