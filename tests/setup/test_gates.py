"""Contract C1: the setup gate and ops.dispatch_attempts.is_test set by the dispatch path."""

from __future__ import annotations

import pytest

from tests.support.rows import add_purchase
from trackai.dispatch import DispatchOptions, run_dispatch
from trackai.settings import Settings
from trackai.setup import gates
from trackai_cli.capi_mock import MockConfig, MockServer


@pytest.fixture(scope="module")
def fake():
    with MockServer(MockConfig(seed=3)) as server:
        yield server


def test_latest_pass_is_none_then_the_newest_pass(conn, make_tenant):
    tenant, _ = make_tenant()
    assert gates.latest_pass(conn, tenant) is None
    gates.record_pass(conn, tenant, "test_capi_event", "ev-1", "operator", {"events_received": 1})
    gates.record_pass(conn, tenant, "test_capi_event", "ev-2", "agent", {})
    got = gates.latest_pass(conn, tenant)
    assert (got.tenant_id, got.gate, got.event_id, got.actor) == (tenant, "test_capi_event", "ev-2", "agent")
    other, _ = make_tenant()
    assert gates.latest_pass(conn, other) is None
    with pytest.raises(ValueError):
        gates.latest_pass(conn, tenant, "publish_gtm")


def test_attempts_sent_with_a_test_event_code_are_marked_is_test(conn, make_tenant, fake):
    settings = Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 1.0})
    test_tenant, _ = make_tenant(test_event_code="TEST42", pixel_id="222222")
    live_tenant, _ = make_tenant(pixel_id="333333")
    test_event = add_purchase(conn, test_tenant)
    live_event = add_purchase(conn, live_tenant)
    summary = run_dispatch(conn, settings, sleep=lambda s: None, options=DispatchOptions())
    assert summary["sent"] >= 2
    flags = dict(
        conn.execute(
            "SELECT event_id, is_test FROM ops.dispatch_attempts WHERE event_id = ANY(%s)",
            ([test_event, live_event],),
        ).fetchall()
    )
    assert flags == {test_event: True, live_event: False}
