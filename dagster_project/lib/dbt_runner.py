"""Run dbt against the trackai database, outside Dagster or inside it.

* ``dbt_env(url)`` turns a libpq URL (TCP or unix-socket form ``postgresql://u:@/db?host=/dir``)
  into the TRACKAI_DBT_* variables that dbt/profiles.yml reads.
* ``postgres_dbt_lock(url)``: a session advisory lock so only one dbt invocation touches the
  Postgres database at a time, whoever starts it (Dagster run, CLI, demo, tests).
* ``prepare()`` writes the files generated from Python (``GENERATED``: the EMQ macro from
  ``trackai.core.emq``), then runs ``dbt parse`` to write dbt/target/manifest.json (the make target
  ``manifest``); it is never called at import time.
* ``build(url)`` / ``docs(url)`` for the CLI and the demo.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_LOCK_KEY = 0x7472_6B61_6462  # "trkadb": pg_advisory_lock key shared by every dbt invocation
EMQ_MACRO_PATH = DBT_PROJECT_DIR / "macros" / "estimated_emq.sql"

log = logging.getLogger(__name__)


def dbt_env(url: str, threads: int = 2) -> dict[str, str]:
    """TRACKAI_DBT_* for profiles.yml from a Postgres URL; ``host=`` in the query wins (socket dir)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "localhost"
    port = query.get("port") or (str(parts.port) if parts.port else "5432")
    return {
        "TRACKAI_DBT_HOST": unquote(host),
        "TRACKAI_DBT_PORT": port,
        "TRACKAI_DBT_USER": unquote(parts.username or query.get("user") or "postgres"),
        "TRACKAI_DBT_PASSWORD": unquote(parts.password or query.get("password") or ""),
        "TRACKAI_DBT_DBNAME": unquote(parts.path.lstrip("/") or query.get("dbname") or "postgres"),
        "TRACKAI_DBT_THREADS": str(threads),
    }


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


@contextmanager
def postgres_dbt_lock(url: str, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold a session advisory lock for the duration of one dbt invocation."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
        conn.execute("SELECT pg_advisory_lock(%s)", (DBT_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (DBT_LOCK_KEY,))


def run_dbt(
    args: Sequence[str],
    url: str | None = None,
    *,
    target_path: str | Path | None = None,
    check: bool = True,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``dbt <args>`` in dbt/ with the profile pointed at ``url`` (default: trackai's database)."""
    from trackai import db

    url = db.dbt_database_url(default=url)  # TRACKAI_DBT_DATABASE_URL (role trackai_dbt) wins
    env = {**os.environ, **dbt_env(url), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DBT_LOG_PATH", str(DBT_PROJECT_DIR / "logs"))
    cmd = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
    needs_db = args and args[0] not in ("parse", "deps", "clean", "ls", "list", "compile")
    with postgres_dbt_lock(url) if needs_db else _nullcontext():
        proc = subprocess.run(
            cmd, cwd=DBT_PROJECT_DIR, env=env, text=True, capture_output=capture, check=False
        )
    if check and proc.returncode != 0:
        tail = (proc.stdout or "")[-4000:] if capture else ""
        raise RuntimeError(f"dbt {' '.join(args)} failed with exit code {proc.returncode}\n{tail}")
    return proc


@contextmanager
def _nullcontext() -> Iterator[None]:
    yield


def generated_files() -> dict[Path, str]:
    """dbt files whose content comes from Python: path -> expected text (one source of truth)."""
    from trackai.core import emq

    return {EMQ_MACRO_PATH: emq.dbt_macro()}


def write_generated() -> list[Path]:
    """Rewrite the generated dbt files that differ from their Python source; returns those rewritten."""
    written = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def prepare(url: str | None = None) -> Path:
    """Generated files, then ``dbt parse`` -> dbt/target/manifest.json (needs no database connection)."""
    for path in write_generated():
        log.info("dbt: regenerated %s", path)
    run_dbt(["parse"], url or "postgresql://postgres@localhost/trackai")
    return MANIFEST_PATH


def build(
    url: str | None = None,
    *,
    select: str | None = None,
    variables: dict[str, str] | None = None,
    target_path: str | Path | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``dbt build`` (models, data tests and unit tests) against ``url``; raises on failure."""
    from dagster_project.lib.dbt_vars import vars_arg

    args = ["build", *(["--select", select] if select else []), *vars_arg(variables or {})]
    return run_dbt(args, url, target_path=target_path, capture=capture)


def docs(url: str | None = None) -> Path:
    """``dbt docs generate`` -> dbt/target/index.html + catalog.json (serve with ``trackai dbt docs --serve``)."""
    run_dbt(["docs", "generate"], url)
    return DBT_PROJECT_DIR / "target" / "index.html"
