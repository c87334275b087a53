"""The pending-migrations check every process runs at start is read only: the least-privilege roles the
containers run as (console, pipeline, dbt, metrics, ingest) get an answer without CREATE, a role with no
way to read the applied versions gets a clear error naming it, and an empty database is left untouched."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

from trackai import db, migrations
from trackai.settings import REPO_ROOT

SQL = REPO_ROOT / "sql"
ROLES = ["trackai_console", "trackai_pipeline", "trackai_dbt", "trackai_metrics", "trackai_app_rw"]


@pytest.mark.parametrize("role", ROLES)
def test_least_privilege_roles_see_no_pending_migration(pg_url: str, role: str) -> None:
    url = db.with_user(pg_url, role)
    with psycopg.connect(url) as conn:  # the premise: this role may not run the old bootstrap
        can_create = conn.execute(
            "SELECT has_database_privilege(current_database(), 'CREATE')"
            "    OR has_schema_privilege('ops', 'CREATE')"
        ).fetchone()[0]
    assert can_create is False
    assert migrations.pending_count(url, SQL) == 0
    statuses = migrations.status(url, SQL)
    assert len(statuses) == len(migrations.discover(SQL))
    assert {s.state for s in statuses} == {"applied"}


def test_one_more_file_is_pending_for_the_console(pg_url: str, tmp_path) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in SQL.glob("*.sql"):
        (sql_dir / path.name).write_bytes(path.read_bytes())
    (sql_dir / "9999_not_yet.sql").write_text("SELECT 1;\n")
    assert migrations.pending_count(db.with_user(pg_url, "trackai_console"), sql_dir) == 1


def test_console_sees_an_edited_migration(pg_url: str, tmp_path) -> None:
    """The console reads checksums through ops.migration_status(), so EDITED is reported as for the owner."""
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    for path in SQL.glob("*.sql"):
        (sql_dir / path.name).write_bytes(path.read_bytes())
    target = sql_dir / "0002_tenants.sql"
    target.write_text(target.read_text() + "\n-- edited\n")
    states = {
        s.migration.version: s.state
        for s in migrations.status(db.with_user(pg_url, "trackai_console"), sql_dir)
    }
    assert states["0002"] == "EDITED"


@pytest.fixture
def bare_role(pg_url: str) -> Iterator[str]:
    name = f"trackai_test_bare_{secrets.token_hex(3)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'GRANT CONNECT ON DATABASE "{db.database_of(pg_url)}" TO "{name}"')
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'REVOKE CONNECT ON DATABASE "{db.database_of(pg_url)}" FROM "{name}"')
        conn.execute(f'DROP ROLE "{name}"')


def test_a_role_that_cannot_read_them_gets_a_clear_error(pg_url: str, bare_role: str) -> None:
    with pytest.raises(
        migrations.MigrationError, match=rf"role {bare_role} cannot read the applied migrations"
    ):
        migrations.pending_count(db.with_user(pg_url, bare_role), SQL)


def test_an_empty_database_has_everything_pending_and_is_not_written(pg_server_url: str) -> None:
    name = f"trackai_test_empty_{secrets.token_hex(3)}"
    db.ensure_database(pg_server_url, name)
    try:
        url = db.with_database(pg_server_url, name)
        assert migrations.pending_count(url, SQL) == len(migrations.discover(SQL))
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regnamespace('ops')").fetchone()[0] is None
    finally:
        db.drop_database(pg_server_url, name)
