"""Each alarm: create the condition on a real Postgres -> fails; clear it -> passes."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import psycopg
import pytest

from dagster_project.defs.quality import AlarmThresholds, evaluate_all
from dagster_project.defs.quality.alarms import ALARMS, ERROR, WARN, run_alarm
from dagster_project.defs.quality.gx_contracts import CONTRACTS, run_contract
from tests.support import rows as data
from tests.support.receiver import LoopbackReceiver, Recorded, Reply

SPECS = {s.name: s for s in ALARMS}
CONTRACT = {c.name: c for c in CONTRACTS}


def alarm(conn, name, **overrides):
    return run_alarm(conn, SPECS[name], AlarmThresholds(**overrides))


@pytest.fixture(scope="module")
def tenant(pg_url):
    from trackai import tenants

    with psycopg.connect(pg_url, autocommit=True) as c:
        tid = tenants.create_tenant(
            c, name="Healthy", pixel_id="1234567890", meta_token="tok-healthy", gateway_secrets={}
        )
        data.normal_traffic(c, tid)
    return tid


def test_normal_data_raises_no_alarm(tenant, pg_url):
    results = evaluate_all(pg_url)
    assert len(results) == len(ALARMS) + len(CONTRACTS)
    failing = [(r.name, r.value, r.details) for r in results if not r.passed]
    assert failing == []
    assert all(r.severity in (WARN, ERROR) and r.runbook.endswith(".md") for r in results)


def test_dlq_depth_warn_then_critical_then_clear(tenant, conn):
    ids = data.dlq(conn, tenant, 6)
    r = alarm(conn, "dlq_depth")
    assert (r.passed, r.severity, r.value) == (False, WARN, 6)
    ids += data.dlq(conn, tenant, 95)
    r = alarm(conn, "dlq_depth")
    assert (r.passed, r.severity, r.value) == (False, ERROR, 101)
    conn.execute("UPDATE ops.dlq SET replayed_at = now() WHERE event_id = ANY(%s)", (ids,))
    assert alarm(conn, "dlq_depth").passed


def test_circuit_breaker_open_over_3_minutes(tenant, conn):
    conn.execute(
        "INSERT INTO ops.circuit_breakers (tenant_id, pixel_id, state, opened_at) VALUES (%s, 'p1', 'open', now())",
        (tenant,),
    )
    assert alarm(conn, "circuit_breaker_open").passed  # just opened: not yet 3 minutes
    conn.execute(
        "UPDATE ops.circuit_breakers SET opened_at = now() - interval '4 minutes' WHERE pixel_id = 'p1'"
    )
    r = alarm(conn, "circuit_breaker_open")
    assert (r.passed, r.severity, r.value) == (False, ERROR, 1)
    conn.execute("UPDATE ops.circuit_breakers SET state = 'closed', opened_at = NULL WHERE pixel_id = 'p1'")
    assert alarm(conn, "circuit_breaker_open").passed


def test_meta_token_expiring_via_debug_token(tenant, conn):
    expires_in = {"s": 6 * 3600}

    def debug_token(request: Recorded) -> Reply:  # the Graph API's debug_token answer
        return Reply(200, {"data": {"is_valid": True, "expires_at": int(time.time()) + expires_in["s"]}})

    with LoopbackReceiver(respond=debug_token) as graph:
        url = f"{graph.url}/v21.0"
        r = alarm(conn, "meta_token_expiring", meta_graph_url=url)
        assert (r.passed, r.severity) == (False, ERROR)
        seen = [req.target for req in graph.received(method="GET")]
        assert any("debug_token" in p and "input_token=tok-healthy" in p for p in seen), seen
        expires_in["s"] = 60 * 86400
        assert alarm(conn, "meta_token_expiring", meta_graph_url=url).passed
        conn.execute("UPDATE ops.meta_token_status SET status = 'invalid' WHERE tenant_id = %s", (tenant,))
        assert not alarm(conn, "meta_token_expiring").passed  # code 190 recorded by dispatch
        conn.execute("UPDATE ops.meta_token_status SET status = 'ok' WHERE tenant_id = %s", (tenant,))
        assert alarm(conn, "meta_token_expiring").passed


def test_webhook_success_rate_from_counted_rejections(tenant, conn):
    data.rejection(conn, tenant, n=3)  # 20 accepted, 3 rejected: 86.96 %
    r = alarm(conn, "webhook_success_rate")
    assert (r.passed, r.severity) == (False, ERROR)
    assert r.value == pytest.approx(86.96)
    conn.execute("UPDATE landing.webhook_rejections SET created_at = now() - interval '2 hours'")
    assert alarm(conn, "webhook_success_rate").passed


def test_webhook_success_rate_counts_hits_of_known_tenants_and_gateways_only(tenant, conn):
    """Refusals land as counts per minute (issue 22); unknown tenants and made-up gateways are noise
    anyone can make, so they never fail the alarm."""
    conn.execute(
        """INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status, hits)
           VALUES ('unknown', NULL, 'hotmart', 'unknown_tenant', 401, 2000),
                  (%s, %s, 'invalid', 'unknown_gateway', 404, 2000)""",
        (str(tenant), tenant),
    )
    assert alarm(conn, "webhook_success_rate").passed
    conn.execute(
        """INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status, hits)
           VALUES (%s, %s, 'hotmart', 'bad_signature', 401, 3)""",
        (str(tenant), tenant),
    )
    r = alarm(conn, "webhook_success_rate")
    assert (r.passed, r.value, r.details["rejected"]) == (False, pytest.approx(86.96), 3)
    conn.execute("UPDATE landing.webhook_rejections SET created_at = now() - interval '2 hours'")
    assert alarm(conn, "webhook_success_rate").passed


def test_pending_backlog(tenant, conn):
    ids = [data.dispatched_event(conn, tenant, status="pending", attempts=[]) for _ in range(4)]
    r = alarm(conn, "dispatch_backlog", backlog_max_pending=3)
    assert (r.passed, r.severity, r.value) == (False, WARN, 4)
    conn.execute(
        "UPDATE ops.dispatch_queue SET status = 'sent', sent_at = now() WHERE event_id = ANY(%s)", (ids,)
    )
    assert alarm(conn, "dispatch_backlog", backlog_max_pending=3).passed
    assert AlarmThresholds().backlog_max_pending == 1000


def test_dispatch_latency_p95(tenant, conn):
    event_id = data.dispatched_event(conn, tenant, attempts=[("success", 2000)] * 30)
    r = alarm(conn, "dispatch_latency_p95")
    assert (r.passed, r.severity) == (False, WARN)
    assert r.value > 500
    conn.execute(
        "UPDATE ops.dispatch_attempts SET created_at = now() - interval '3 hours' WHERE event_id = %s",
        (event_id,),
    )
    assert alarm(conn, "dispatch_latency_p95").passed


def test_ingest_freshness(conn):
    from trackai import tenants

    quiet = tenants.create_tenant(
        conn, name="Quiet", pixel_id="1234567892", meta_token="tok-q", gateway_secrets={}
    )
    data.click(conn, quiet, occurred_at=data.now() - timedelta(hours=3))
    r = alarm(conn, "ingest_freshness")
    assert (r.passed, r.severity, r.value) == (False, WARN, 1)
    data.click(conn, quiet)
    assert alarm(conn, "ingest_freshness").passed


def test_match_rate_drop_against_trailing_week(conn):
    from trackai import tenants

    tid = tenants.create_tenant(
        conn, name="Dropping", pixel_id="1234567893", meta_token="tok-d", gateway_secrets={}
    )
    today = data.now().date()
    for i in range(10):
        data.purchase(conn, tid, partition_date=today - timedelta(days=2), stage="deterministic")
        data.purchase(conn, tid, partition_date=today, stage="deterministic" if i < 3 else None)
    r = alarm(conn, "match_rate_drop")
    assert (r.passed, r.severity) == (False, WARN)
    assert r.value == pytest.approx(70.0)
    conn.execute(
        """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys, partition_date)
           SELECT p.tenant_id, p.gateway, p.order_id, 1, 'probabilistic', 0.6, ARRAY['ip'], p.partition_date
           FROM core.purchases p LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
           WHERE p.tenant_id = %s AND m.order_id IS NULL""",
        (tid,),
    )
    assert alarm(conn, "match_rate_drop").passed


def test_estimated_emq_low(conn):
    from trackai import tenants

    tid = tenants.create_tenant(
        conn, name="Thin", pixel_id="1234567894", meta_token="tok-t", gateway_secrets={}
    )
    ids = [
        data.dispatched_event(conn, tid, user_data={"client_ip_address": "203.0.113.1", "fbp": "fb.1.2.3"})
        for _ in range(10)
    ]
    r = alarm(conn, "estimated_emq_low")
    assert (r.passed, r.severity) == (False, WARN)
    assert r.value == pytest.approx(2.0)
    assert "estimated" in r.details["label"]
    conn.execute(
        "UPDATE ops.dispatch_queue SET payload = jsonb_set(payload, '{user_data}', %s::jsonb) WHERE event_id = ANY(%s)",
        (json.dumps(data.FULL_USER_DATA), ids),
    )
    assert alarm(conn, "estimated_emq_low").passed


def test_db_connections_ratio(pg_url, conn):
    used, limit = conn.execute(
        "SELECT (SELECT count(*) FROM pg_stat_activity), current_setting('max_connections')::int"
    ).fetchone()
    ratio = (used + 2) / limit  # the threshold sits just above today's usage
    assert alarm(conn, "db_connections", db_connections_max_ratio=ratio).passed
    extra = [psycopg.connect(pg_url) for _ in range(5)]
    try:
        r = alarm(conn, "db_connections", db_connections_max_ratio=ratio)
        assert (r.passed, r.severity) == (False, ERROR)
    finally:
        for c in extra:
            c.close()
    assert alarm(conn, "db_connections", db_connections_max_ratio=0.8).passed


@pytest.mark.parametrize(
    ("contract", "create", "clear"),
    [
        (
            "conversions_contract",
            lambda c, t: data.conversion(c, t, currency="XYZ"),
            "DELETE FROM landing.conversions WHERE currency = 'XYZ'",
        ),
        (
            "conversions_contract",
            lambda c, t: data.conversion(c, t, event_time=data.now() + timedelta(days=2)),
            "DELETE FROM landing.conversions WHERE event_time > now() + interval '1 day'",
        ),
        (
            "clicks_contract",
            lambda c, t: data.click(c, t, external_id="maria.silva@example.com"),
            "DELETE FROM landing.clicks WHERE external_id LIKE '%%@%%'",
        ),
        (
            "clicks_contract",
            lambda c, t: data.click(c, t, session_id="+55 11 91234-5678"),
            "DELETE FROM landing.clicks WHERE session_id LIKE '+55%%'",
        ),
        (
            "dispatch_attempts_contract",
            lambda c, t: data.attempt(c, t, "not-a-sha256", "success", 90),
            "DELETE FROM ops.dispatch_attempts WHERE event_id = 'not-a-sha256'",
        ),
    ],
)
def test_gx_data_contracts(tenant, conn, contract, create, clear):
    thresholds = AlarmThresholds()
    create(conn, tenant)
    r = run_contract(conn, CONTRACT[contract], thresholds)
    assert (r.passed, r.severity) == (False, ERROR), r.details
    assert r.details["failed"] and all("@" not in str(f["examples"]) for f in r.details["failed"])
    conn.execute(clear)
    r = run_contract(conn, CONTRACT[contract], thresholds)
    assert r.passed, r.details
