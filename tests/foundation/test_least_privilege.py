"""The app role (what ingest connects as) may INSERT/SELECT landing rows and nothing else."""

from __future__ import annotations

import psycopg
import pytest

from trackai import db


@pytest.fixture
def app_conn(pg_url: str):
    with psycopg.connect(db.with_user(pg_url, "trackai_app_rw"), autocommit=True) as conn:
        yield conn


@pytest.fixture
def readonly_conn(pg_url: str):
    with psycopg.connect(db.with_user(pg_url, "trackai_readonly_audit"), autocommit=True) as conn:
        yield conn


def test_app_role_can_land_a_click_and_read_it(app_conn, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    click_id = app_conn.execute(
        "INSERT INTO landing.clicks (tenant_id, session_id, fbclid) VALUES (%s, 's-1', 'abc') RETURNING click_id",
        (tenant_id,),
    ).fetchone()[0]
    assert app_conn.execute(
        "SELECT session_id FROM landing.clicks WHERE click_id = %s", (click_id,)
    ).fetchone() == ("s-1",)
    assert (
        app_conn.execute(
            "SELECT landing.rate_limit_lease(%s, 'webhook', now(), 3, 10)", (tenant_id,)
        ).fetchone()[0]
        == 3
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE landing.clicks SET session_id = 'x'",
        "DELETE FROM landing.clicks",
        "TRUNCATE landing.clicks",
        "CREATE TABLE landing.evil (id int)",
        "DROP TABLE landing.clicks",
        "ALTER TABLE landing.clicks ADD COLUMN evil int",
        "INSERT INTO core.tenants (name, pixel_id) VALUES ('x', '12345')",
        "UPDATE core.tenant_secrets SET secret_ref = 'x'",
        "SELECT * FROM ops.dispatch_queue",
        "INSERT INTO core.matches (tenant_id) VALUES (gen_random_uuid())",
        "UPDATE landing.rate_limit_windows SET hits = 0",
        "CREATE SCHEMA evil",
    ],
)
def test_app_role_cannot_update_delete_or_run_ddl(app_conn, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_conn.execute(statement)


def test_readonly_role_reads_analytics_but_writes_nothing(readonly_conn, conn) -> None:
    conn.execute("SET ROLE trackai_migration_admin")
    conn.execute("CREATE TABLE analytics.ro_probe (n int)")
    conn.execute("INSERT INTO analytics.ro_probe VALUES (1)")
    conn.execute("RESET ROLE")
    assert readonly_conn.execute("SELECT n FROM analytics.ro_probe").fetchone() == (1,)
    for statement in (
        "INSERT INTO analytics.ro_probe VALUES (2)",
        "SELECT * FROM landing.clicks",
        "CREATE TABLE analytics.evil (id int)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            readonly_conn.execute(statement)


def _writes(conn, role: str) -> dict[str, set[str]]:
    rows = conn.execute(
        """SELECT table_schema || '.' || table_name, privilege_type FROM information_schema.role_table_grants
            WHERE grantee = %s AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')""",
        (role,),
    ).fetchall()
    writes: dict[str, set[str]] = {}
    for table, privilege in rows:
        writes.setdefault(table, set()).add(privilege)
    return writes


def test_pipeline_role_writes_exactly_the_pipeline_state(conn) -> None:
    """Dagster's role (sql/0532) writes the micro-batch, verification and dispatch tables, nothing else."""
    writes = _writes(conn, "trackai_pipeline")
    assert {t: p for t, p in writes.items() if t.split(".")[0] in ("landing", "core")} == {
        "core.purchases": {"INSERT", "UPDATE"},
        "core.purchase_verifications": {"INSERT", "UPDATE"},
        "core.matches": {"INSERT", "UPDATE", "DELETE"},
        "core.dedupe_registry": {"INSERT"},
    }
    assert "ops.schema_migrations" not in writes
    assert not any("DELETE" in p or "TRUNCATE" in p for t, p in writes.items() if t.startswith("ops."))


def test_dbt_role_writes_no_table_outside_analytics(conn) -> None:
    assert [t for t in _writes(conn, "trackai_dbt") if not t.startswith("analytics.")] == []
    assert conn.execute(
        """SELECT has_schema_privilege('trackai_dbt', 'analytics', 'CREATE'),
                  has_schema_privilege('trackai_dbt', 'core', 'CREATE'),
                  has_column_privilege('trackai_dbt', 'core.tenant_secrets', 'secret_ciphertext', 'SELECT'),
                  has_column_privilege('trackai_dbt', 'core.tenant_secrets', 'secret_ref', 'SELECT')"""
    ).fetchone() == (True, False, False, False)
