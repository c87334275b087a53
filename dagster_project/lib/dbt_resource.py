"""``TrackaiDbtCliResource``: dagster-dbt's CLI resource connected to the trackai database.

dbt/profiles.yml reads the TRACKAI_DBT_* variables (``dbt_runner.dbt_env``). DbtCliResource builds the dbt
process's environment from ``os.environ`` inside ``cli()`` and has no ``env`` argument, so this resource
sets those variables only for the duration of its ``cli()`` call (the dbt process and dagster-dbt's
in-process adapter handle are created there) and restores the previous values: nothing leaks into the
run worker's environment.

``build(context, args)`` is what the dbt assets call: under the Postgres dbt lock, stream the events, then
keep the invocation's partial-parse state for the next one (dbt re-parses the whole project, about 2 s,
when the connection differs from the one the state was written with) and delete the invocation's
target directory (2.5 MB each; one or two per micro-batch would fill dbt/target by gigabytes a day).
A failed invocation keeps its directory for inspection.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource

from dagster_project.lib.dbt_runner import (
    DBT_PROJECT_DIR,
    dbt_env,
    dbt_executable,
    postgres_dbt_lock,
)

PARTIAL_PARSE = "partial_parse.msgpack"


@contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ for the block, then put back exactly what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class TrackaiDbtCliResource(DbtCliResource):
    """dbt against TRACKAI_DBT_DATABASE_URL (role trackai_dbt) when set, else ``database_url``, else the
    main database (TRACKAI_DATABASE_URL or the embedded default); resolved at run time (trackai.db)."""

    database_url: str = ""

    def connection_url(self) -> str:
        from trackai import db

        return db.dbt_database_url(default=self.database_url or None)  # role trackai_dbt (issue 22)

    def cli_env(self) -> dict[str, str]:
        """What the dbt process gets on top of the run worker's environment."""
        return {
            **dbt_env(self.connection_url()),
            "DBT_PROFILES_DIR": self.profiles_dir or str(DBT_PROJECT_DIR),
        }

    def cli(self, args: Sequence[str], **kwargs: Any):  # type: ignore[override]
        with scoped_environ(self.cli_env()):
            return super().cli(args, **kwargs)

    @contextmanager
    def database_lock(self) -> Iterator[None]:
        """One dbt invocation against the database at a time, whoever starts it (hold it while streaming)."""
        with postgres_dbt_lock(self.connection_url()):
            yield

    def build(self, context, args: Sequence[str]) -> Iterator[Any]:
        """``dbt <args>`` for the assets selected in ``context``, streamed as Dagster events."""
        with self.database_lock():
            invocation = self.cli(args, context=context)
            yield from invocation.stream()
            keep_partial_parse(Path(invocation.target_path))
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    # Two start-up costs of DbtCliResource.cli() that buy us nothing, measured on the 2-core dev VM under
    # load: `dbt --version` in a subprocess once per run (3.2 s) and an in-process dbt adapter per call
    # (2.5 s the first time, 0.9 s after), used only by fetch_row_counts / fetch_column_metadata, which we
    # do not call. Both are private hooks of dagster-dbt (pinned in constraints.txt); tests/dbt checks
    # they still exist.
    @cached_property
    def _cli_version(self):
        """The venv's dbt is the dbt-core package imported here: read its version, no subprocess."""
        if Path(self.dbt_executable) == Path(sys.executable).with_name("dbt"):
            from dbt.version import __version__
            from packaging import version

            return version.parse(__version__)
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        return None


def shared_target_path() -> Path:
    """Where dagster-dbt copies the partial-parse state from before each invocation: DBT_TARGET_PATH,
    else dbt/target (relative paths are inside the project, as dagster-dbt resolves them)."""
    configured = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return configured if configured.is_absolute() else DBT_PROJECT_DIR / configured


def keep_partial_parse(target_path: Path, shared: Path | None = None) -> None:
    """Make ``target_path``'s partial-parse state the one the next invocation starts from (atomic)."""
    source = target_path / PARTIAL_PARSE
    shared = shared or shared_target_path()
    if not source.exists() or not shared.is_dir():
        return
    fd, tmp = tempfile.mkstemp(dir=shared, prefix=".partial_parse.")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, shared / PARTIAL_PARSE)


def dbt_resource(project, database_url: str = "") -> TrackaiDbtCliResource:
    """The code location's dbt resource (tests pass their own ``database_url``)."""
    return TrackaiDbtCliResource(
        project_dir=project,
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
        database_url=database_url,
    )
