from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from trackai import db, migrations
from trackai.settings import REPO_ROOT


def test_upgrade_twice_is_a_noop(pg_url: str) -> None:
    assert migrations.upgrade(pg_url, REPO_ROOT / "sql") == []
    statuses = migrations.status(pg_url, REPO_ROOT / "sql")
    assert statuses and all(s.state == "applied" for s in statuses)


def test_every_table_has_created_at_and_tenant_id_where_it_belongs(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        """
        SELECT table_schema || '.' || table_name,
               bool_or(column_name = 'created_at'), bool_or(column_name = 'tenant_id')
          FROM information_schema.columns
         WHERE table_schema IN ('landing', 'core', 'ops') AND table_name <> 'schema_migrations'
         GROUP BY 1
        """
    ).fetchall()
    tables = {name: (created, tenant) for name, created, tenant in rows}
    assert {
        "landing.clicks",
        "landing.webhook_events",
        "landing.conversions",
        "core.matches",
        "core.dedupe_registry",
        "ops.dispatch_attempts",
        "ops.dlq",
        "ops.circuit_breakers",
    } <= set(tables)
    without_created = [
        t for t, (created, _) in tables.items() if not created and t != "landing.rate_limit_windows"
    ]
    assert without_created == []
    no_tenant_expected = {"ops.pipeline_watermarks", "landing.webhook_rejections"}
    without_tenant = [t for t, (_, tenant) in tables.items() if not tenant and t not in no_tenant_expected]
    assert without_tenant == []


@pytest.fixture
def scratch_db(pg_server_url: str, tmp_path: Path):
    name = f"trackai_test_scratch_{tmp_path.name[-8:].lower().replace('-', '_')}"
    db.ensure_database(pg_server_url, name)
    sql_dir = tmp_path / "sql"
    shutil.copytree(REPO_ROOT / "sql", sql_dir)
    yield db.with_database(pg_server_url, name), sql_dir
    db.drop_database(pg_server_url, name)


def test_edited_applied_migration_is_refused(scratch_db) -> None:
    url, sql_dir = scratch_db
    migrations.upgrade(url, sql_dir)
    target = sql_dir / "0002_tenants.sql"
    target.write_text(target.read_text() + "\n-- sneaky edit\n")
    with pytest.raises(migrations.MigrationError, match=r"0002_tenants\.sql was edited after it was applied"):
        migrations.upgrade(url, sql_dir)
    assert [s.state for s in migrations.status(url, sql_dir) if s.migration.version == "0002"] == ["EDITED"]


def test_failing_migration_rolls_back_and_stays_pending(scratch_db) -> None:
    url, sql_dir = scratch_db
    migrations.upgrade(url, sql_dir)
    (sql_dir / "9998_good_then_bad.sql").write_text(
        "CREATE TABLE ops.half_done (id int, created_at timestamptz);\nSELECT 1/0;\n"
    )
    with pytest.raises(
        migrations.MigrationError, match=r"9998_good_then_bad\.sql failed and was rolled back"
    ):
        migrations.upgrade(url, sql_dir)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('ops.half_done')").fetchone()[0] is None
    assert migrations.pending_count(url, sql_dir) == 1


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(migrations.MigrationError, match=r"NNNN_lower_snake\.sql"):
        migrations.discover(tmp_path)


def test_objects_are_owned_by_the_migration_admin(conn: psycopg.Connection) -> None:
    owners = conn.execute(
        """
        SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname IN ('landing', 'core', 'ops')
        """
    ).fetchall()
    assert owners == [("trackai_migration_admin",)]
