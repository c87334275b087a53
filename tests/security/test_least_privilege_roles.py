"""Issue 22, finding 7 (Dagster/dbt part): Dagster and dbt ran as the owner role.

They now connect as trackai_pipeline and trackai_dbt (sql/0531, sql/0532). Each test logs in as the role
itself and does the real work: a micro-batch, verification and dispatch to the Graph API fake as the
pipeline role; ``dbt build`` as the dbt role. What an attacker holding either password would try next
(rewrite a tenant's secrets, delete clicks, write landing/core tables, DDL) is refused by Postgres.
"""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from dagster_project.lib import dbt_runner
from ingest_service.main import create_app
from trackai import db
from trackai.core.event_id import event_id
from trackai.dispatch import list_dlq, replay, run_dispatch
from trackai.pipeline.batch import run_batch
from trackai.settings import Settings, SettingsError
from trackai.verification import store as verification_store
from trackai_cli.capi_mock import MockConfig, MockServer
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

NO_SLEEP = lambda s: None  # noqa: E731


@pytest.fixture(scope="module")
def pipeline_url(pg_url: str) -> str:
    return db.with_user(pg_url, "trackai_pipeline")


@pytest.fixture(scope="module")
def dbt_url(pg_url: str) -> str:
    return db.with_user(pg_url, "trackai_dbt")


def refused(url: str, statement: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_roles_are_plain_logins(conn) -> None:
    rows = conn.execute(
        """SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolinherit
             FROM pg_roles WHERE rolname IN ('trackai_pipeline', 'trackai_dbt') ORDER BY 1"""
    ).fetchall()
    assert rows == [
        ("trackai_dbt", True, False, False, False, False, True),
        ("trackai_pipeline", True, False, False, False, False, True),
    ]
    memberships = conn.execute(
        """SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
            JOIN pg_roles u ON u.oid = m.member WHERE u.rolname IN ('trackai_pipeline', 'trackai_dbt')"""
    ).fetchall()
    assert memberships == []  # no inherited owner rights


def test_pipeline_role_runs_a_micro_batch_verification_and_dispatch(
    conn, pg_url, pipeline_url, make_tenant, setenv
) -> None:
    tenant_id, secrets = make_tenant("Pipeline role")
    verification_store.add_funnel(conn, tenant_id, "Curso X", {"PPPB3A07": [(Decimal("197"), "BRL")]})
    app = create_app(Settings(), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app) as ingest:
        for order, amount in (("PPCPROLE1", Decimal("197")), ("PPCPROLE2", Decimal("99999"))):
            payload = build_payload(
                "perfectpay", order_id=order, amount=amount, product_id="PPPB3A07", email="b@example.com"
            )
            headers, _, body = sign_request("perfectpay", secrets["perfectpay"], json.dumps(payload).encode())
            assert (
                ingest.post(
                    f"/api/v1/webhooks/perfectpay/{tenant_id}", content=body, headers=headers
                ).status_code
                == 200
            )

    summary = run_batch(pipeline_url, mode="incremental")
    assert summary.purchases_processed == 2 and summary.dedupe_inserted == 2
    with MockServer(MockConfig()) as graph, psycopg.connect(pipeline_url, autocommit=True) as pconn:
        setenv("TRACKAI_META_GRAPH_URL", graph.url)
        graph.configure(reject_event_ids=[event_id(tenant_id, "PPCPROLE1")])  # Meta refuses it once: DLQ
        result = run_dispatch(pconn, sleep=NO_SLEEP)
        assert result["enqueued"] == 1 and result.get("rejected", 0) == 1, str(result)
        graph.configure(reject_event_ids=[])
        assert replay(pconn, tenant_id=tenant_id)["replayed"] == 1
        assert run_dispatch(pconn, sleep=NO_SLEEP)["sent"] == 1
        assert graph.event_ids() == [event_id(tenant_id, "PPCPROLE1")]
        assert [r["event_id"] for r in list_dlq(pconn, tenant_id=tenant_id)] == []
    verdicts = dict(
        conn.execute(
            "SELECT order_id, outcome FROM core.purchase_verifications WHERE tenant_id = %s", (tenant_id,)
        ).fetchall()
    )
    assert verdicts == {"PPCPROLE1": "plausible", "PPCPROLE2": "rejected"}


def test_pipeline_role_evaluates_every_alarm_and_contract(pipeline_url) -> None:
    """The quality alarms and GX contracts run in Dagster too: all of them work with the role's grants."""
    from dagster_project.defs.quality import evaluate_all

    results = evaluate_all(pipeline_url)
    assert len(results) >= 10
    assert [r.name for r in results if "permission denied" in str(r.details)] == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core.tenant_secrets SET secret_ref = 'attacker'",
        "DELETE FROM core.tenant_secrets",
        "INSERT INTO core.tenant_secrets (tenant_id, kind, secret_ref) SELECT tenant_id, 'hotmart', 'x' FROM core.tenants",
        "DELETE FROM landing.clicks",
        "UPDATE landing.clicks SET fbc = NULL",
        "INSERT INTO landing.clicks (tenant_id, session_id) SELECT tenant_id, 's' FROM core.tenants LIMIT 1",
        "TRUNCATE landing.conversions",
        "UPDATE core.tenants SET active = false",
        "UPDATE core.tenants SET unverifiable_policy = 'send'",
        "INSERT INTO core.funnel_products SELECT tenant_id, gen_random_uuid(), 'p', 'BRL', 1 FROM core.tenants",
        "DELETE FROM core.purchases",
        "DELETE FROM core.purchase_verifications",
        "DELETE FROM ops.dispatch_attempts",
        "TRUNCATE ops.dispatch_queue",
        "INSERT INTO ops.schema_migrations (version, name, checksum, duration_ms) VALUES ('9999', 'x', 'x', 0)",
        "CREATE TABLE ops.evil (id int)",
        "CREATE TABLE analytics.evil (id int)",
        "DROP TABLE core.purchases",
        "ALTER TABLE core.purchases ADD COLUMN evil int",
        "CREATE SCHEMA evil",
    ],
)
def test_pipeline_role_cannot_touch_secrets_clicks_or_schema(pipeline_url, statement) -> None:
    assert refused(pipeline_url, statement)


def test_dbt_role_builds_the_marts_and_owns_only_analytics(conn, dbt_url, make_tenant, tmp_path) -> None:
    make_tenant("dbt role")
    dbt_runner.build(dbt_url, target_path=tmp_path / "target", capture=True)
    owners = dict(
        conn.execute(
            """SELECT n.nspname, array_agg(DISTINCT pg_get_userbyid(c.relowner)::text)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname IN ('analytics', 'landing', 'core', 'ops') AND c.relkind IN ('r', 'v', 'm')
                GROUP BY 1"""
        ).fetchall()
    )
    assert owners["analytics"] == ["trackai_dbt"]
    assert "trackai_dbt" not in owners["landing"] + owners["core"] + owners["ops"]
    with psycopg.connect(db.with_user(dbt_url, "trackai_readonly_audit"), autocommit=True) as audit:
        assert audit.execute("SELECT count(*) FROM analytics.dim_tenants").fetchone()[0] >= 1


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO landing.clicks (tenant_id, session_id) SELECT tenant_id, 's' FROM core.tenants LIMIT 1",
        "DELETE FROM landing.clicks",
        "UPDATE core.purchases SET amount = 0",
        "INSERT INTO core.tenants (name, pixel_id) VALUES ('x', '12345')",
        "UPDATE core.tenant_secrets SET secret_ref = 'x'",
        "SELECT secret_ciphertext FROM core.tenant_secrets",
        "DELETE FROM ops.dlq",
        "UPDATE ops.dispatch_queue SET status = 'sent'",
        "CREATE TABLE core.evil (id int)",
        "CREATE TABLE landing.evil (id int)",
        "CREATE SCHEMA evil",
    ],
)
def test_dbt_role_cannot_write_landing_core_or_ops(dbt_url, statement) -> None:
    assert refused(dbt_url, statement)


def test_urls_fall_back_in_development_and_are_required_in_production() -> None:
    dev = Settings(database_url="postgresql://owner@db/trackai")
    assert db.pipeline_database_url(dev) == "postgresql://owner@db/trackai"
    assert (
        db.dbt_database_url(dev, default="postgresql://caller@db/trackai") == "postgresql://caller@db/trackai"
    )
    base = {
        "env": "production",
        "database_url": "postgresql://owner@db/trackai",
        "secret_key": "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy4uLi4uLi4uLi4=",
    }
    prod = Settings(**base)
    with pytest.raises(SettingsError, match="TRACKAI_PIPELINE_DATABASE_URL"):
        db.pipeline_database_url(prod)
    with pytest.raises(SettingsError, match="TRACKAI_DBT_DATABASE_URL"):
        db.dbt_database_url(prod, default="postgresql://owner@db/trackai")
    roles = Settings(
        **base,
        pipeline_database_url="postgresql://trackai_pipeline@db/trackai",
        dbt_database_url="postgresql://trackai_dbt@db/trackai",
    )
    assert db.pipeline_database_url(roles).startswith("postgresql://trackai_pipeline@")
    assert db.dbt_database_url(roles, default="postgresql://owner@db/trackai").startswith(
        "postgresql://trackai_dbt@"
    )


def test_dagster_and_dbt_connect_as_their_roles_when_configured(
    setenv, pg_url, pipeline_url, dbt_url
) -> None:
    from dagster_project.lib.resources import PostgresResource

    setenv("TRACKAI_PIPELINE_DATABASE_URL", pipeline_url)
    setenv("TRACKAI_DBT_DATABASE_URL", dbt_url)
    with PostgresResource().connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("trackai_pipeline",)
    debug = dbt_runner.run_dbt(["debug"], pg_url, capture=True)  # the caller's owner URL is overridden
    assert "user: trackai_dbt" in debug.stdout and "All checks passed" in debug.stdout
