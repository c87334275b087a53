"""Backup retention: keep point-in-time recovery possible for the last ``backup_retention_days``.

Kept: every base backup that ended inside the window, plus the newest one that ended before it (the
restore to the window's first second starts from it), and every WAL segment from that backup's start
on. Deleted: older base backups (manifest first, so an interrupted delete leaves an incomplete backup,
never a broken complete one), their WAL, uploads that died without a manifest (after a day), markers
and drill reports older than the window. The newest backup is never deleted, however old.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from trackai.lifecycle import basebackup, checksums, drill, wal
from trackai.lifecycle.store import ObjectStore


@dataclass
class PruneReport:
    kept_backups: list[str] = field(default_factory=list)
    deleted_backups: list[str] = field(default_factory=list)
    deleted_wal: int = 0
    deleted_other: int = 0
    oldest_wal_kept: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _segment(name: str) -> str:
    """Log + segment number of a WAL file name (timeline-independent order), '' for history files."""
    return name[8:24] if len(name) >= 24 and not name.endswith(".history") else ""


def prune(store: ObjectStore, *, now: datetime, retention_days: float) -> PruneReport:
    report = PruneReport()
    horizon = now - timedelta(days=retention_days)
    backups = basebackup.list_backups(store)
    if not backups:
        return report
    inside = [b for b in backups if b.ended >= horizon]
    before = [b for b in backups if b.ended < horizon]
    keep = ([before[-1]] if before else []) + inside
    for b in before[:-1]:
        store.delete([f"{basebackup.BASE_DIR}{b.backup_id}/manifest.json"])
        store.delete([c["key"] for c in b.chunks])
        report.deleted_backups.append(b.backup_id)
    report.kept_backups = [b.backup_id for b in keep]
    for backup_id, keys in basebackup.incomplete_backups(store).items():
        if backup_id < (now - timedelta(days=1)).strftime("%Y%m%dT%H%M%S"):
            report.deleted_other += store.delete(keys)
    floor = _segment(keep[0].start_wal)
    report.oldest_wal_kept = keep[0].start_wal
    old_wal = [n for n in wal.archived_names(store) if _segment(n) and _segment(n) < floor]
    report.deleted_wal = store.delete([wal.key(n) for n in old_wal])
    stale = [
        o["key"]
        for prefix in (checksums.MARKER_DIR, drill.DRILL_DIR)
        for o in store.list(prefix)
        if o["modified"] < horizon
    ]
    report.deleted_other += store.delete(stale)
    return report
