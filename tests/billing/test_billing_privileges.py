"""The billing audit trail and ledger are append-only: the app roles may INSERT (where they write) but never
UPDATE, DELETE or TRUNCATE; the owner is refused too (trigger). Tested by logging in as each role."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tests.billing.helpers import ensure_plans, subscribe
from trackai import db
from trackai.billing import ledger
from trackai.core.event_id import event_id as make_event_id

APP_ROLES = ("trackai_app_rw", "trackai_pipeline", "trackai_dbt", "trackai_console")


def attempt(url: str, statement: str, params=()) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        try:
            c.execute(statement, params)
        except psycopg.errors.InsufficientPrivilege:
            return "refused"
        return "ok"


@pytest.fixture
def seeded(conn, make_tenant):
    ensure_plans(conn)
    tenant, _ = make_tenant()
    subscribe(conn, tenant, "tiny-block", datetime(2026, 1, 1, tzinfo=UTC))
    with conn.transaction():
        ledger.record_accepted(
            conn, [(tenant, make_event_id(tenant, "p1"), datetime.now(UTC))], now=datetime.now(UTC)
        )
    return tenant


@pytest.mark.parametrize("role", APP_ROLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing.billing_events SET used = 0",
        "DELETE FROM billing.billing_events",
        "TRUNCATE billing.billing_events",
        "UPDATE billing.usage_ledger SET period = '2000-01'",
        "DELETE FROM billing.usage_ledger",
        "UPDATE billing.subscriptions SET monthly_quota = 1",
        "DELETE FROM billing.subscriptions",
        "UPDATE billing.plans SET monthly_quota = 1",
        "DELETE FROM billing.usage_counters",
    ],
)
def test_app_roles_cannot_rewrite_billing(pg_url, seeded, role, statement) -> None:
    assert attempt(db.with_user(pg_url, role), statement) == "refused"


def test_pipeline_may_append_to_the_audit_trail_and_ledger(pg_url, seeded) -> None:
    url = db.with_user(pg_url, "trackai_pipeline")
    ins = """INSERT INTO billing.billing_events (tenant_id, period, kind, actor) VALUES (%s, '2026-11', 'block', 't')"""
    assert attempt(url, ins, (seeded,)) == "ok"
    with psycopg.connect(url, autocommit=True) as c, c.transaction():
        ledger.record_accepted(
            c, [(seeded, make_event_id(seeded, "p2"), datetime.now(UTC))], now=datetime.now(UTC)
        )
    for role in ("trackai_app_rw", "trackai_console", "trackai_dbt"):
        assert attempt(db.with_user(pg_url, role), ins, (seeded,)) == "refused", role


def test_even_the_owner_cannot_rewrite_the_trail_or_the_ledger(conn, seeded) -> None:
    for statement in (
        "UPDATE billing.billing_events SET used = 0",
        "DELETE FROM billing.billing_events",
        "TRUNCATE billing.billing_events",
        "DELETE FROM billing.usage_ledger",
        "UPDATE billing.usage_ledger SET accepted_at = now()",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)


def test_console_reads_only_its_tenant(pg_url, conn, make_tenant, seeded) -> None:
    other, _ = make_tenant()
    subscribe(conn, other, "tiny-warn", datetime(2026, 1, 1, tzinfo=UTC))
    url = db.with_user(pg_url, "trackai_console")
    with psycopg.connect(url) as c:
        c.execute("SELECT set_config('app.tenant_id', %s, true)", (seeded,))
        for table in ("subscriptions", "usage_counters", "usage_ledger", "billing_events"):
            tenants = {
                r[0] for r in c.execute(f"SELECT DISTINCT tenant_id::text FROM billing.{table}").fetchall()
            }
            assert tenants == {seeded}, table
        c.rollback()
        # no tenant set: nothing
        assert c.execute("SELECT count(*) FROM billing.billing_events").fetchone()[0] == 0
