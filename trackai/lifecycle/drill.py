"""The restore drill: prove the backups restore, and measure RPO and RTO.

1. A consistency marker ``B`` is made on the source now (``checksums``): a restore point plus the row
   count and checksum of every table at that exact point.
2. RPO: the time until the WAL segment holding ``B`` is in the object store, on its own (no forced
   switch): how long a commit made at ``B`` existed only on the primary — the data-loss window.
3. Latest: the newest base backup + archived WAL restored into an isolated server up to ``B``; RTO is
   the time to a promoted server accepting connections; its counts and checksums must equal ``B``'s.
4. Point in time: the same to the *timestamp* of an older marker ``A`` (an empty commit made after ``B``
   lets recovery know it went past ``A``) (by default the newest stored
   marker younger than the newest base backup, e.g. the one the daily backup left; else one made at the
   start of the drill), checked against ``A``.

Any difference, a restore that fails, or a segment that never arrives fails the drill (an alarm).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from trackai.lifecycle import basebackup, checksums, restore, wal
from trackai.lifecycle.checksums import Marker
from trackai.lifecycle.store import ObjectStore
from trackai.settings import Settings, get_settings

DRILL_DIR = "drills/"


@dataclass
class RestoreCheck:
    kind: str
    target: str
    backup_id: str
    marker: str
    rto_s: float
    download_s: float
    recovery_s: float
    verify_s: float
    tables: int
    rows: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass
class DrillReport:
    drill_id: str
    started_at: str
    database: str
    ok: bool = False
    rpo_s: float | None = None
    rto_s: float | None = None
    checks: list[dict] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def wait_archived(store: ObjectStore, marker: Marker, timeout_s: float) -> float:
    """Seconds from the marker until its WAL segment is in the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if store.head(wal.key(marker.wal_file)) is not None:
            return round((datetime.now(UTC) - marker.at).total_seconds(), 3)
        time.sleep(0.2)
    raise TimeoutError(
        f"WAL segment {marker.wal_file} not archived {timeout_s:.0f}s after marker {marker.name}"
    )


def wait_for_segment(store: ObjectStore, wal_file: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while store.head(wal.key(wal_file)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"WAL segment {wal_file} not archived after {timeout_s:.0f}s")
        time.sleep(0.2)


def check_restore(
    kind: str,
    marker: Marker,
    workdir: Path,
    settings: Settings,
    store: ObjectStore,
    *,
    by_time: bool,
    keep: bool,
) -> RestoreCheck:
    restored = restore.restore(
        workdir,
        settings=settings,
        store=store,
        target_name=None if by_time else marker.name,
        target_time=marker.at if by_time else None,
    )
    try:
        t0 = time.perf_counter()
        with psycopg.connect(restored.server.url(marker.database)) as conn:
            actual = checksums.table_checksums(conn, list(marker.tables))
        verify_s = round(time.perf_counter() - t0, 3)
    finally:
        if not keep:
            restored.server.stop()
            shutil.rmtree(restored.server.datadir, ignore_errors=True)
            shutil.rmtree(restored.server.socket_dir, ignore_errors=True)
    return RestoreCheck(
        kind=kind,
        target=restored.target,
        backup_id=restored.backup.backup_id,
        marker=marker.name,
        rto_s=restored.rto_s,
        download_s=restored.download_s,
        recovery_s=restored.recovery_s,
        verify_s=verify_s,
        tables=len(actual),
        rows=sum(v[0] for v in actual.values()),
        differences=checksums.differences(marker.tables, actual),
    )


def pitr_marker(store: ObjectStore) -> Marker | None:
    """The newest stored marker taken after the newest base backup ended (a valid PITR target)."""
    backups = basebackup.list_backups(store)
    if not backups:
        return None
    usable = [m for m in checksums.load_markers(store) if m.at >= backups[-1].ended]
    return usable[-1] if usable else None


def run_drill(
    url: str,
    *,
    settings: Settings | None = None,
    store: ObjectStore | None = None,
    workdir: Path | None = None,
    pitr: bool = True,
    pitr_target: Marker | None = None,
    latest: bool = True,
    wal_timeout_s: float = 900,
    keep: bool = False,
) -> DrillReport:
    """Run the drill against the source ``url`` (module docstring); the report is also stored.
    ``latest=False`` skips the restore to the newest marker (the RPO is still measured)."""
    settings = settings or get_settings()
    store = store or ObjectStore.from_settings("backups", settings)
    workdir = workdir or settings.lifecycle.drill_dir or (settings.data_dir / "restore")
    started = time.perf_counter()
    report = DrillReport(
        drill_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ"),
        started_at=datetime.now(UTC).isoformat(),
        database=url.rsplit("/", 1)[-1].split("?")[0],
    )
    try:
        target_a = (pitr_target or pitr_marker(store) or checksums.create_marker(url)) if pitr else None
        if target_a is not None:
            checksums.save_marker(store, target_a)
        newest = checksums.create_marker(url)
        checksums.save_marker(store, newest)
        report.rpo_s = wait_archived(store, newest, wal_timeout_s)
        if target_a is not None:
            wait_for_segment(store, checksums.commit_after(url), wal_timeout_s)
        checks = []
        if latest:
            checks.append(
                check_restore("latest", newest, Path(workdir), settings, store, by_time=False, keep=keep)
            )
        if target_a is not None:
            checks.append(
                check_restore(
                    "point_in_time", target_a, Path(workdir), settings, store, by_time=True, keep=keep
                )
            )
        report.checks = [asdict(c) | {"ok": c.ok} for c in checks]
        report.rto_s = max(c.rto_s for c in checks)
        report.ok = all(c.ok for c in checks)
        if not report.ok:
            report.error = "; ".join(d for c in checks for d in c.differences)
    except Exception as exc:  # a failed drill is a result to report and alarm on, not a crash
        report.ok = False
        report.error = f"{type(exc).__name__}: {exc}"[:4000]
    report.duration_s = round(time.perf_counter() - started, 3)
    store.put(f"{DRILL_DIR}{report.drill_id}.json", json.dumps(report.as_dict(), indent=1).encode())
    return report


def last_drills(store: ObjectStore, limit: int = 20) -> list[dict]:
    keys = sorted(o["key"] for o in store.list(DRILL_DIR) if o["key"].endswith(".json"))[-limit:]
    return [json.loads(store.get(k)) for k in keys]
