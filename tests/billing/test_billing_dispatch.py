"""Quota enforcement in the dispatcher against the Graph API fake: mid-batch quota, warn overage, block then
upgrade then release, new period release, held past Meta's window -> DLQ 'quota', thresholds once (C6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.billing.helpers import (
    add_events,
    billing_events,
    consistent,
    ensure_plans,
    statuses,
    subscribe,
)
from tests.support.receiver import LoopbackReceiver
from trackai.billing import invoices
from trackai.core import billing as rules
from trackai.dispatch import DispatchOptions, replay, run_dispatch
from trackai.settings import Settings
from trackai_cli.capi_mock import MockConfig, MockServer

NO_SLEEP = lambda s: None  # noqa: E731
OPTS = DispatchOptions(batch_size=3)


@pytest.fixture(scope="module")
def fake():
    with MockServer(MockConfig(seed=3)) as server:
        yield server


@pytest.fixture(scope="module")
def alerts_received():
    with LoopbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def settings(fake, alerts_received, setenv):
    fake.reset()
    fake.configure(fail_rate=0.0, throttle_rate=0.0, timeout_rate=0.0, revoked_tokens=[], reject_event_ids=[])
    alerts_received.clear()
    setenv("TRACKAI_ALERT_WEBHOOK_URL", alerts_received.url + "/hook")
    setenv("TRACKAI_META_GRAPH_URL", fake.url)
    return Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 0.5})


@pytest.fixture(autouse=True)
def _plans(conn):
    ensure_plans(conn)
    yield
    conn.execute("UPDATE ops.dispatch_queue SET status = 'sent' WHERE status <> 'sent'")  # isolate tests


NOW = datetime.now(UTC).replace(microsecond=0)
PERIOD = rules.period_of(NOW)


def run(conn, settings, now=None):
    return run_dispatch(conn, settings, sleep=NO_SLEEP, options=OPTS, now=now or NOW)


def test_block_plan_quota_reached_mid_batch_then_upgrade_releases(
    conn, make_tenant, fake, settings, alerts_received
):
    tenant, _ = make_tenant()
    subscribe(conn, tenant, "tiny-block", NOW - timedelta(days=40))
    first = add_events(conn, tenant, 3, NOW - timedelta(hours=2))
    assert run(conn, settings)["sent"] == 3
    assert [(k, p) for k, p, *_ in billing_events(conn, tenant, "threshold")] == []  # 3/5 = 60 %
    more = add_events(conn, tenant, 4, NOW - timedelta(hours=1))
    summary = run(conn, settings)
    assert summary["sent"] == 2 and summary["quota_held"] == 2, summary  # quota reached mid-batch
    assert statuses(conn, more) == {"sent": 2, "quota_held": 2}
    assert consistent(conn, tenant, PERIOD) == (5, 5)
    assert [(k, p) for k, p, *_ in billing_events(conn, tenant, "threshold")] == [
        ("threshold", 80),
        ("threshold", 100),
    ]
    received = alerts_received.json_bodies("/hook")
    assert sorted(a["trackai"]["details"]["threshold_pct"] for a in received) == [80, 100]
    # another run: nothing more goes, nothing is lost, no second notice
    again = run(conn, settings)
    assert again["sent"] == 0 and statuses(conn, more) == {"sent": 2, "quota_held": 2}
    assert len(billing_events(conn, tenant, "threshold")) == 2
    # upgrade: the held events are released and sent, counted once
    change = subscribe(conn, tenant, "small-block", NOW + timedelta(seconds=1))
    assert change["direction"] == "upgrade" and change["used"] == 5
    later = NOW + timedelta(minutes=1)
    summary = run(conn, settings, now=later)
    assert summary["quota_released"] == 2 and summary["sent"] == 2, summary
    assert statuses(conn, first + more) == {"sent": 7}
    assert consistent(conn, tenant, PERIOD) == (7, 7)
    kinds = [k for k, *_ in billing_events(conn, tenant)]
    assert kinds == ["plan_change", "block", "threshold", "threshold", "plan_change", "release"]
    sent = [e["event_id"] for e in fake.events]
    assert sorted(sent) == sorted(set(sent)) and set(first + more) <= set(sent)  # each once, none lost


def test_warn_plan_sends_everything_and_bills_overage(conn, make_tenant, settings):
    tenant, _ = make_tenant()
    subscribe(conn, tenant, "tiny-warn", NOW - timedelta(days=40))
    events = add_events(conn, tenant, 7, NOW - timedelta(hours=1))
    summary = run(conn, settings)
    assert summary["sent"] == 7 and summary["quota_held"] == 0
    assert statuses(conn, events) == {"sent": 7}
    assert consistent(conn, tenant, PERIOD) == (7, 7)
    inv = invoices.invoice_for(conn, tenant, PERIOD)
    assert inv.overage_events == 2 and inv.lines[-1].kind == "overage"
    assert inv.lines[-1].amount_brl == rules.round_brl(rules.Decimal(2) * rules.Decimal("5.00") / 1000)


def accept_all(seen: list[str]) -> httpx.MockTransport:
    """Meta answering 200 to every batch whatever the clock (the fake checks times against the real clock)."""

    def handler(request: httpx.Request) -> httpx.Response:
        events = json.loads(request.content)["data"]
        seen.extend(e["event_id"] for e in events)
        return httpx.Response(200, json={"events_received": len(events), "fbtrace_id": "Ftrace"})

    return httpx.MockTransport(handler)


def test_new_period_releases_and_expired_held_events_go_to_dlq_with_reason_quota(conn, make_tenant, settings):
    tenant, _ = make_tenant()
    start, end = rules.period_bounds(PERIOD)
    subscribe(conn, tenant, "tiny-block", start - timedelta(days=40))
    near_end = end - timedelta(hours=2)
    seen: list[str] = []
    transport = accept_all(seen)
    quota = add_events(conn, tenant, 5, near_end - timedelta(hours=3))
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=OPTS, now=near_end, transport=transport)
    assert summary["sent"] == 5
    # two events whose Meta window ends 1 h before the next period's first run, and one fresh event
    old = add_events(conn, tenant, 2, near_end - timedelta(days=7) + timedelta(hours=2))
    fresh = add_events(conn, tenant, 1, near_end - timedelta(hours=1))
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=OPTS, now=near_end, transport=transport)
    assert summary["sent"] == 0 and summary["quota_held"] == 3, summary
    # next period, 00:30 in São Paulo: the fresh one goes, the two past Meta's window land in the DLQ 'quota'
    after = end + timedelta(minutes=30)
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=OPTS, now=after, transport=transport)
    assert (summary["quota_expired"], summary["quota_released"], summary["sent"]) == (2, 1, 1), summary
    dlq = dict(
        conn.execute("SELECT event_id, reason FROM ops.dlq WHERE event_id = ANY(%s)", (old,)).fetchall()
    )
    assert dlq == {old[0]: "quota", old[1]: "quota"}
    assert statuses(conn, quota + old + fresh) == {"sent": 6, "dlq": 2}  # never lost: sent or in the DLQ
    assert sorted(seen) == sorted(quota + fresh)
    assert consistent(conn, tenant, PERIOD) == (5, 5)
    assert consistent(conn, tenant, rules.period_of(after)) == (1, 1)
    assert [k for k, *_ in billing_events(conn, tenant, "quota_dlq")] == ["quota_dlq"]


def test_replays_and_forced_resends_never_count_twice(conn, make_tenant, settings):
    tenant, _ = make_tenant()
    subscribe(conn, tenant, "tiny-block", NOW - timedelta(days=40))
    events = add_events(conn, tenant, 5, NOW - timedelta(hours=1))
    assert run(conn, settings)["sent"] == 5
    # at quota: a forced DLQ replay of an accepted event is free (already in the ledger) and goes
    out = replay(conn, tenant_id=tenant, event_ids=events[:2], now=NOW)
    assert out["forced_resend"] == 2
    summary = run(conn, settings, now=NOW + timedelta(seconds=5))
    assert summary["sent"] == 2 and summary["quota_held"] == 0
    assert consistent(conn, tenant, PERIOD) == (5, 5)
    attempts = conn.execute(
        "SELECT count(*) FROM ops.dispatch_attempts WHERE tenant_id = %s AND status = 'success'", (tenant,)
    ).fetchone()[0]
    assert attempts == 7


def test_test_events_are_never_billable(conn, make_tenant, settings):
    tenant, _ = make_tenant(test_event_code="TEST42")
    subscribe(conn, tenant, "tiny-block", NOW - timedelta(days=40))
    add_events(conn, tenant, 3, NOW - timedelta(hours=1))
    assert run(conn, settings)["sent"] == 3
    assert consistent(conn, tenant, PERIOD) == (0, 0)
    assert conn.execute(
        "SELECT bool_and(is_test) FROM ops.dispatch_attempts WHERE tenant_id = %s", (tenant,)
    ).fetchone()[0]


def test_downgrade_below_current_usage_holds_new_events_and_bills_overage(conn, make_tenant, settings):
    tenant, _ = make_tenant()
    subscribe(conn, tenant, "small-block", NOW - timedelta(days=40))
    add_events(conn, tenant, 8, NOW - timedelta(hours=2))
    assert run(conn, settings)["sent"] == 8
    change = subscribe(conn, tenant, "tiny-block", NOW + timedelta(seconds=1))
    assert change["direction"] == "downgrade" and change["state_after"] == "at_quota"
    more = add_events(conn, tenant, 2, NOW - timedelta(hours=1))
    summary = run(conn, settings, now=NOW + timedelta(minutes=1))
    assert summary["sent"] == 0 and summary["quota_held"] == 2
    assert statuses(conn, more) == {"quota_held": 2}
    inv = invoices.invoice_for(conn, tenant, PERIOD)
    assert inv.quota == 5 and inv.overage_events == 3
    thresholds = billing_events(conn, tenant, "threshold")
    assert {(p, q) for _, p, q, *_ in thresholds} == {(80, 5), (100, 5)}  # notified at the downgrade
