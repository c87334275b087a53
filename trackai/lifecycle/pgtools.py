"""The Postgres programs the lifecycle runs (pg_basebackup, pg_verifybackup, initdb, pg_ctl, ...).

By default they are the ones bundled with the ``pgserver`` package, so backups and drills work on a
machine without a system Postgres; ``TRACKAI_LIFECYCLE_PG_BIN_DIR`` points at another installation when
the source server has another major version (a base backup restores only with its own major version).
A Postgres server refuses to run as root: when we are root, servers run as the ``pgserver`` OS user (the
account pgserver itself uses) and the directories they own are handed to it.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from trackai.settings import Settings, get_settings


class PgToolError(RuntimeError):
    pass


def bin_dir(settings: Settings | None = None) -> Path:
    configured = (settings or get_settings()).lifecycle.pg_bin_dir
    if configured:
        return Path(configured)
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def server_os_user() -> str | None:
    """The OS account servers run as: ``pgserver`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("pgserver")
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", "pgserver"], check=True, capture_output=True)
    return "pgserver"


def _traversable_by_others(path: Path) -> None:
    """Add the search (x) bit for others on every parent of ``path``: traverse, never list or read."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def make_interpreter_reachable() -> None:
    """When we are root, let the server's OS user run this interpreter and import trackai: the
    archive_command and restore_command are ``python -m trackai.lifecycle.wal`` run by the server. In
    production the server's own account runs a Python with trackai installed (docs/backups.md)."""
    if server_os_user() is None:
        return
    import sys

    import trackai

    for path in (Path(sys.executable).resolve(), Path(sys.executable), Path(trackai.__file__)):
        _traversable_by_others(path)


def give_to_server_user(path: Path) -> None:
    """Hand ``path`` (recursively) to the server's OS user and let it traverse the parents."""
    user = server_os_user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    _traversable_by_others(path)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def run(
    program: str,
    args: list[str],
    *,
    settings: Settings | None = None,
    as_server_user: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run one program; returns stdout. A failure raises PgToolError with the program's stderr."""
    exe = bin_dir(settings) / program
    if not exe.exists():
        raise PgToolError(f"{exe} not found (TRACKAI_LIFECYCLE_PG_BIN_DIR)")
    kwargs: dict = {}
    user = server_os_user() if as_server_user else None
    if user:
        entry = pwd.getpwnam(user)  # its own group too: root's group would hide directories from it
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    proc = subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd="/",
        **kwargs,
    )
    if proc.returncode != 0:
        raise PgToolError(
            f"{program} {' '.join(args[:3])}... failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc.stdout


def major_version(settings: Settings | None = None) -> int:
    out = run("postgres", ["--version"], settings=settings)
    return int(out.split()[-1].split(".")[0])
