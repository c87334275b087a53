"""Property: usage never double-counts. Whatever mix of Meta failures (retries), gateway duplicates, backfills
(recompute re-enqueues) and DLQ replays (forced re-sends) an event goes through, the ledger holds each
accepted event_id once, the counter equals the ledger, and both equal the distinct non-test event_ids with
a success attempt (contract C2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.billing.helpers import add_events, consistent
from trackai.core import billing as rules
from trackai.dispatch import DispatchOptions, replay, run_dispatch
from trackai.dispatch import store as dispatch_store
from trackai.settings import Settings

NO_SLEEP = lambda s: None  # noqa: E731
SETTINGS = Settings(meta_graph_url="http://127.0.0.1:9", capi={"timeout_seconds": 0.5})

step = st.one_of(
    st.tuples(st.just("run"), st.lists(st.booleans(), min_size=1, max_size=4)),  # Meta answers: ok / 500
    st.tuples(st.just("replay"), st.lists(st.integers(0, 5), max_size=3)),  # forced re-send of events
    st.tuples(st.just("duplicate"), st.integers(0, 5)),  # the gateway delivers the same order again
    st.tuples(st.just("backfill"), st.just(0)),  # a recompute re-enqueues everything
)


def _transport(answers: list[bool]):
    it = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)["data"]
        if next(it, True):
            return httpx.Response(200, json={"events_received": len(data), "fbtrace_id": "F"})
        return httpx.Response(500, json={"error": {"code": 2, "message": "Service temporarily unavailable"}})

    return httpx.MockTransport(handler)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), steps=st.lists(step, min_size=1, max_size=8))
def test_usage_never_double_counts(conn, make_tenant, n, steps) -> None:
    tenant, _ = make_tenant()
    now = datetime.now(UTC).replace(microsecond=0)
    events = add_events(conn, tenant, n, now - timedelta(hours=2))
    clock = now
    for kind, arg in steps:
        clock += timedelta(minutes=10)  # past any retry-later delay
        if kind == "run":
            run_dispatch(
                conn,
                SETTINGS,
                sleep=NO_SLEEP,
                now=clock,
                tenant_id=tenant,
                options=DispatchOptions(batch_size=2, backoff_seconds=()),
                transport=_transport(arg),
            )
        elif kind == "replay":
            replay(conn, tenant_id=tenant, event_ids=[events[i % n] for i in arg] or None, now=clock)
        elif kind == "duplicate":
            conn.execute(
                """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
                   SELECT event_id, tenant_id, gateway, order_id, event_name FROM core.dedupe_registry
                    WHERE event_id = %s ON CONFLICT DO NOTHING""",
                (events[arg % n],),
            )
        else:
            dispatch_store.enqueue(conn, margin=timedelta(hours=1), now=clock, tenant_id=tenant)
    period = rules.period_of(now)
    accepted = conn.execute(
        """SELECT count(DISTINCT event_id) FROM ops.dispatch_attempts
            WHERE tenant_id = %s AND status = 'success' AND NOT is_test""",
        (tenant,),
    ).fetchone()[0]
    successes = conn.execute(
        "SELECT count(*) FROM ops.dispatch_attempts WHERE tenant_id = %s AND status = 'success'", (tenant,)
    ).fetchone()[0]
    used, rows = conn.execute(
        """SELECT (SELECT coalesce(sum(used), 0) FROM billing.usage_counters WHERE tenant_id = %(t)s),
                  (SELECT count(*) FROM billing.usage_ledger WHERE tenant_id = %(t)s)""",
        {"t": tenant},
    ).fetchone()
    assert (used, rows) == (accepted, accepted)
    if period == rules.period_of(clock):
        assert consistent(conn, tenant, period) == (accepted, accepted)
    assert accepted <= n <= n + successes
