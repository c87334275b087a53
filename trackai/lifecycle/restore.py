"""Restore a base backup plus archived WAL into a new, isolated server: to the end of the archive, to a
named restore point, or to a timestamp (point-in-time recovery).

The restored server listens on 127.0.0.1 at a free port, never archives (its WAL must not mix with the
source's archive) and is promoted when the target is reached. ``Restored.rto_s`` is the time from the
first byte fetched to a promoted server accepting connections.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from trackai.lifecycle import basebackup, pgtools, wal
from trackai.lifecycle.basebackup import BackupInfo
from trackai.lifecycle.server import PrivateServer, sealing_env, wal_command
from trackai.lifecycle.store import ObjectStore
from trackai.net import free_port
from trackai.settings import Settings, get_settings


class RestoreError(RuntimeError):
    pass


@dataclass
class Restored:
    server: PrivateServer
    backup: BackupInfo
    target: str
    download_s: float
    recovery_s: float
    rto_s: float
    bytes_fetched: int


def prefetch_wal(store: ObjectStore, info: BackupInfo, target: Path, settings: Settings) -> Path:
    """Fetch and unseal, in parallel, every archived segment from the backup's start on (plus timeline
    history files) into ``target``, so recovery copies files instead of starting one process per
    segment. What is absent at this moment is absent for this restore (``.complete``)."""
    from concurrent.futures import ThreadPoolExecutor

    target.mkdir(parents=True)
    names = [
        n for n in wal.archived_names(store) if n.endswith(".history") or n[8:24] >= info.start_wal[8:24]
    ]

    def one(name: str) -> None:
        wal.fetch(name, target / name, settings, store=store)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, names))
    (target / ".complete").touch()
    pgtools.give_to_server_user(target)
    return target


def prefetched_restore_command(directory: Path) -> str:
    """Copy a prefetched file; a name absent from a complete prefetch is the end of the archive (exit 1)."""
    d = shlex.quote(str(directory))
    return (
        f"if [ -f {d}/%f ]; then cp {d}/%f %p; elif [ -f {d}/.complete ]; then exit 1; "
        f"else {wal_command('fetch')}; fi"
    )


def pick_backup(backups: list[BackupInfo], target_time: datetime | None) -> BackupInfo:
    """The newest complete backup (that ended before ``target_time`` when one is given)."""
    usable = [b for b in backups if target_time is None or b.ended <= target_time]
    if not usable:
        when = f" that ended before {target_time.isoformat()}" if target_time else ""
        raise RestoreError(f"no base backup{when} in the store")
    return usable[-1]


def restore(
    workdir: Path,
    *,
    settings: Settings | None = None,
    store: ObjectStore | None = None,
    target_time: datetime | None = None,
    target_name: str | None = None,
    backup: BackupInfo | None = None,
    timeout_s: float = 1800,
) -> Restored:
    """Restore into ``workdir/<backup>-<n>`` and start it; the caller stops the returned server."""
    settings = settings or get_settings()
    store = store or ObjectStore.from_settings("backups", settings)
    info = backup or pick_backup(basebackup.list_backups(store), target_time)
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / f"restore-{info.backup_id}-{time.time_ns()}"
    started = time.perf_counter()
    fetched = basebackup.download(info, datadir, store, settings)
    pgtools.run("pg_verifybackup", ["-q", str(datadir)], settings=settings)
    downloaded = time.perf_counter()
    for stale in ("postmaster.pid", "postmaster.opts", "standby.signal", "backup_manifest"):
        (datadir / stale).unlink(missing_ok=True)
    (datadir / "recovery.signal").touch()
    datadir.chmod(0o700)
    prefetched = prefetch_wal(store, info, workdir / f"{datadir.name}.wal", settings)
    server = PrivateServer(datadir, free_port(), settings, sealing_env(settings))
    conf = {
        "restore_command": prefetched_restore_command(prefetched),
        "recovery_target_action": "promote",
        "recovery_target_timeline": "latest",
        "archive_mode": "off",
        "archive_command": "",
        "primary_conninfo": "",
    }
    target = "end of archive"
    if target_name:
        conf["recovery_target_name"] = target_name
        target = f"restore point {target_name}"
    elif target_time:
        conf["recovery_target_time"] = target_time.isoformat()
        conf["recovery_target_inclusive"] = "on"
        target = f"time {target_time.isoformat()}"
    server.configure(conf)
    try:
        server.start()
        server.wait_ready(timeout_s=timeout_s, promoted=True)
    except Exception as exc:
        log = server.log_tail()
        server.stop() if (datadir / "postmaster.pid").exists() else None
        raise RestoreError(f"restore of {info.backup_id} to {target} failed: {exc}\n{log}") from exc
    ready = time.perf_counter()
    return Restored(
        server=server,
        backup=info,
        target=target,
        download_s=round(downloaded - started, 3),
        recovery_s=round(ready - downloaded, 3),
        rto_s=round(ready - started, 3),
        bytes_fetched=fetched,
    )
