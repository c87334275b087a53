"""The embedded default database: a pgserver-managed Postgres under ``<data_dir>/pgdata``.

It is started on demand, left running so later commands (ingest, Dagster, dbt) reuse it, and
reached through its unix socket, a URL that psycopg, SQLAlchemy (Dagster) and dbt all accept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import warnings
from pathlib import Path


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def _runtime_dir(data_dir: Path) -> None:
    """pgserver keeps a lock file in the XDG runtime dir; give it one inside the data folder."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)


def is_running(data_dir: Path) -> bool:
    pid_file = pgdata_dir(data_dir) / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def ensure_running(data_dir: Path) -> str:
    """Start (or attach to) the embedded server and return a URL for its ``postgres`` database."""
    pgdata = pgdata_dir(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    _runtime_dir(data_dir)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri(database="postgres")


def stop(data_dir: Path) -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    if not is_running(data_dir):
        return False
    _runtime_dir(data_dir)
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata_dir(data_dir), user=user)
    return True
