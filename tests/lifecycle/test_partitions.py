"""The daily-partition migration (sql/0700-0704): the tables are partitioned with everything they had, the
ingest role still writes through the parent, and partitions are kept ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from trackai.lifecycle import partitions

pytestmark = pytest.mark.integration
TABLES = {
    "landing.clicks": "occurred_at",
    "landing.identities": "seen_at",
    "landing.conversions": "created_at",
    "ops.dispatch_attempts": "created_at",
}


def test_tables_are_partitioned_by_day_with_the_key_in_every_unique_constraint(conn) -> None:
    assert partitions.registered(conn) == TABLES
    for table, key in TABLES.items():
        assert (
            conn.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]
            == "p"
        )
        uniques = conn.execute(
            """SELECT conname, ARRAY(SELECT attname FROM pg_attribute WHERE attrelid = conrelid AND attnum = ANY(conkey))
                 FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u')""",
            (table,),
        ).fetchall()
        assert uniques and all(key in cols for _, cols in uniques), uniques
    today = datetime.now(UTC).date()
    days = {p.day for p in partitions.listing(conn) if p.parent == "landing.clicks"}
    assert {today + timedelta(days=i) for i in range(8)} <= days and None in days  # ahead + DEFAULT


def test_grants_policies_and_foreign_keys_were_carried_over(conn) -> None:
    acl = conn.execute(
        "SELECT relacl::text[] FROM pg_class WHERE oid = 'landing.clicks'::regclass"
    ).fetchone()[0]
    assert any(a.startswith("trackai_app_rw=ar/") for a in acl)
    assert any(a.startswith("trackai_console=r/") for a in acl)
    rls = conn.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'landing.conversions'::regclass"
    ).fetchone()
    assert rls == (True, True)
    policies = {
        r[0]
        for r in conn.execute("SELECT polname FROM pg_policy WHERE polrelid = 'landing.clicks'::regclass")
    }
    assert policies == {"console_tenant", "console_operator", "other_roles"}
    fks = {
        r[0]
        for r in conn.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = 'landing.conversions'::regclass AND contype = 'f'"
        )
    }
    assert fks == {"core.tenants", "landing.webhook_events"}
    # partitions are reached through their parent only
    part_acl = conn.execute(
        "SELECT relacl::text[] FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
        "WHERE i.inhparent = 'landing.clicks'::regclass LIMIT 1"
    ).fetchone()[0]
    assert not any(a.startswith(("trackai_app_rw", "trackai_pipeline", "=")) for a in part_acl or [])


def test_ingest_role_writes_through_the_parent_and_old_days_move_out_of_default(
    conn, pg_url, make_tenant
) -> None:
    from trackai import db

    tenant_id, _ = make_tenant()
    old = datetime.now(UTC) - timedelta(days=45)
    with psycopg.connect(db.with_user(pg_url, "trackai_app_rw"), autocommit=True) as app:
        click_id = app.execute(
            "INSERT INTO landing.clicks (tenant_id, session_id, occurred_at) VALUES (%s, 's-old', %s) RETURNING click_id",
            (tenant_id, old),
        ).fetchone()[0]
        app.execute("INSERT INTO landing.clicks (tenant_id, session_id) VALUES (%s, 's-now')", (tenant_id,))
    where = conn.execute(
        "SELECT tableoid::regclass::text FROM landing.clicks WHERE click_id = %s", (click_id,)
    ).fetchone()[0]
    assert where == "landing.clicks_default"
    created = partitions.ensure_ahead(conn, 7)
    assert f"clicks_p{old:%Y%m%d}" in created
    where = conn.execute(
        "SELECT tableoid::regclass::text FROM landing.clicks WHERE click_id = %s", (click_id,)
    ).fetchone()[0]
    assert where == f"landing.clicks_p{old:%Y%m%d}"
    assert partitions.ensure_ahead(conn, 7) == []  # idempotent


def test_drop_refuses_a_day_that_was_never_archived(conn) -> None:
    day = datetime.now(UTC).date()
    with pytest.raises(psycopg.errors.RaiseException, match="never archived"):
        conn.execute("SELECT lifecycle.drop_archived_partition('landing.clicks', %s)", (day,))
