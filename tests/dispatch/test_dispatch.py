"""Dispatch against the local fake: delivery, bisection, breaker, deadline, crash, 190, DLQ replay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import psycopg.types.json
import pytest

from tests.support.rows import add_purchase, queue_status
from trackai import tenants
from trackai.dispatch import DispatchOptions, list_dlq, replay, run_dispatch
from trackai.settings import Settings
from trackai_cli.capi_mock import MockConfig, MockServer

NO_SLEEP = lambda s: None  # noqa: E731


@pytest.fixture(scope="module")
def fake():
    with MockServer(MockConfig(seed=7)) as server:
        yield server


@pytest.fixture
def settings(fake):
    fake.reset()
    fake.configure(fail_rate=0.0, throttle_rate=0.0, timeout_rate=0.0, revoked_tokens=[], reject_event_ids=[])
    return Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 0.5})


@pytest.fixture(autouse=True)
def _clean(conn):
    yield
    conn.execute("UPDATE ops.dispatch_queue SET status = 'sent' WHERE status <> 'sent'")  # isolate tests
    conn.execute("DELETE FROM ops.circuit_breakers")
    conn.execute("DELETE FROM ops.meta_token_status")


def opts(**kw):
    return DispatchOptions(**kw)


def test_matched_and_unmatched_delivered(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant(test_event_code="TEST123", pixel_id="111111")
    matched = add_purchase(conn, tenant, matched=True)
    unmatched = add_purchase(conn, tenant, matched=False)
    fbc = conn.execute(
        "SELECT m.fbc FROM core.matches m JOIN core.purchases p USING (tenant_id, gateway, order_id) "
        "WHERE p.event_id = %s",
        (matched,),
    ).fetchone()[0]
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 2 and summary["enqueued"] == 2
    by_id = {e["event_id"]: e for e in fake.events}
    assert by_id[matched]["action_source"] == "website"
    assert by_id[matched]["user_data"]["fbc"] == fbc
    assert by_id[unmatched]["action_source"] == "other"
    assert by_id[matched]["_pixel_id"] == "111111" and by_id[matched]["_test_event_code"] == "TEST123"
    assert queue_status(conn, matched) == queue_status(conn, unmatched) == "sent"
    rows = conn.execute(
        "SELECT attempt_no, status, http_status, fbtrace_id, latency_ms FROM ops.dispatch_attempts WHERE event_id = %s",
        (matched,),
    ).fetchall()
    assert len(rows) == 1 and rows[0][:3] == (1, "success", 200) and rows[0][3]
    # never sent again
    again = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert again.get("sent", 0) == 0 and len(fake.events) == 2


def test_invalid_event_goes_to_dlq_and_does_not_poison_batch(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    good = add_purchase(conn, tenant)
    bad = add_purchase(conn, tenant, currency=None)  # a Purchase needs value and currency
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["invalid"] == 1 and summary["sent"] == 1
    assert fake.event_ids() == [good]
    dlq = {r["event_id"]: r for r in list_dlq(conn, tenant_id=tenant)}
    assert dlq[bad]["reason"] == "invalid" and "currency" in dlq[bad]["error_message"]
    assert queue_status(conn, bad) == "dlq"


@pytest.mark.parametrize(
    "fbc",
    [
        "fb.1.1767220000000.x$y",  # planted through a click (issue 22)
        "fb.1.1767220000000.fb.1.1767220000000.IwAR",  # re-wrapped
    ],
)
def test_malformed_fbc_or_fbp_is_dropped_with_a_reason_and_the_purchase_sent(
    conn, make_tenant, fake, settings, fbc
):
    tenant, _ = make_tenant()
    event = add_purchase(conn, tenant, fbc=fbc, fbp="fb.1.nope")
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 1 and summary["invalid"] == 0 and summary["dropped_fields"] == 2
    [sent] = [e for e in fake.events if e["event_id"] == event]
    assert "fbc" not in sent["user_data"] and "fbp" not in sent["user_data"]
    assert sent["user_data"]["client_ip_address"] and sent["user_data"]["em"]  # the rest is kept
    dropped = conn.execute(
        "SELECT dropped_fields FROM ops.dispatch_queue WHERE event_id = %s", (event,)
    ).fetchone()[0]
    assert dropped == ["fbc: malformed, not sent", "fbp: malformed, not sent"]
    assert queue_status(conn, event) == "sent" and list_dlq(conn, tenant_id=tenant) == []


def test_replay_sends_an_event_dlqd_for_a_malformed_fbc_before_the_fix(conn, make_tenant, fake, settings):
    """Events the old dispatcher DLQ'd for a planted fbc go out on replay (fbc dropped)."""
    tenant, _ = make_tenant()
    event = add_purchase(conn, tenant, fbc="fb.1.1767220000000.x$y")
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts(), enqueue=True, tenant_id=tenant)
    fake.reset()
    # the state the old dispatcher left: the event in the DLQ as invalid
    payload = conn.execute("SELECT payload FROM ops.dispatch_queue WHERE event_id = %s", (event,)).fetchone()[
        0
    ]
    payload["user_data"]["fbc"] = "fb.1.1767220000000.x$y"
    conn.execute(
        "UPDATE ops.dispatch_queue SET status = 'dlq', payload = %s WHERE event_id = %s",
        (psycopg.types.json.Jsonb(payload), event),
    )
    conn.execute(
        """INSERT INTO ops.dlq (event_id, tenant_id, gateway, reason, error_subcode, payload)
           VALUES (%s, %s, 'hotmart', 'invalid', 2804001, %s)""",
        (event, tenant, psycopg.types.json.Jsonb(payload)),
    )
    assert replay(conn, tenant_id=tenant)["replayed"] == 1
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 1 and fake.event_ids() == [event]
    assert "fbc" not in fake.events[0]["user_data"] and queue_status(conn, event) == "sent"


def test_bisection_delivers_rest_and_dlqs_bad_then_replay(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    ids = [add_purchase(conn, tenant) for _ in range(16)]
    fake.configure(reject_event_ids=[ids[3], ids[11]])
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 14 and summary["rejected"] == 2
    assert sorted(fake.event_ids()) == sorted(set(ids) - {ids[3], ids[11]})
    assert summary["requests"] <= 1 + 2 * 2 * 4  # bisection, not one request per event
    dlq = {r["event_id"]: r for r in list_dlq(conn, tenant_id=tenant)}
    assert set(dlq) == {ids[3], ids[11]}
    assert dlq[ids[3]]["reason"] == "meta_rejected" and dlq[ids[3]]["error_title"] == "Event Rejected"
    # replay one after the fix: same event_id, delivered once
    fake.configure(reject_event_ids=[])
    result = replay(conn, event_ids=[ids[3]])
    assert result["replayed"] == 1
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert fake.event_ids().count(ids[3]) == 1 and queue_status(conn, ids[3]) == "sent"
    assert queue_status(conn, ids[11]) == "dlq"
    # replay by tenant picks the remaining one; a sent event is re-sent only when named explicitly
    assert replay(conn, tenant_id=tenant)["event_ids"] == [ids[11]]
    assert replay(conn, event_ids=[ids[0]])["forced_resend"] == 1
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert fake.event_ids().count(ids[0]) == 2 and fake.event_ids().count(ids[11]) == 1


def test_retryable_backoff_then_pending_with_next_attempt(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    event_id = add_purchase(conn, tenant)
    fake.configure(throttle_rate=1.0)
    slept: list[float] = []
    now = time.time()
    summary = run_dispatch(conn, settings, now=now, sleep=slept.append, options=opts(breaker_threshold=100))
    assert slept == [1, 2, 4, 8, 16], summary
    assert summary["retry_later"] == 1
    row = conn.execute(
        "SELECT status, attempts, next_attempt_at FROM ops.dispatch_queue WHERE event_id = %s", (event_id,)
    ).fetchone()
    assert row[0] == "pending" and row[1] == 6 and row[2].timestamp() > now + 31
    codes = conn.execute(
        "SELECT attempt_no, status, error_code FROM ops.dispatch_attempts WHERE event_id = %s ORDER BY attempt_no",
        (event_id,),
    ).fetchall()
    assert codes == [(i, "retryable_error", 17) for i in range(1, 7)]
    fake.configure(throttle_rate=0.0)
    run_dispatch(conn, settings, now=now + 10, sleep=NO_SLEEP, options=opts())  # not due yet
    assert fake.event_ids() == []
    run_dispatch(conn, settings, now=row[2].timestamp() + 1, sleep=NO_SLEEP, options=opts())
    assert fake.event_ids() == [event_id] and queue_status(conn, event_id) == "sent"


def breaker_row(conn, tenant):
    return conn.execute(
        "SELECT state, consecutive_failures FROM ops.circuit_breakers WHERE tenant_id = %s", (tenant,)
    ).fetchone()


def test_breaker_transitions_across_runs(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    event_id = add_purchase(conn, tenant)
    fake.configure(fail_rate=1.0)
    t0 = time.time()
    o = opts(retry_later_seconds=30, breaker_cooldown_seconds=60)
    run_dispatch(conn, settings, now=t0, sleep=NO_SLEEP, options=o)
    assert breaker_row(conn, tenant) == ("closed", 6)
    run_dispatch(conn, settings, now=t0 + 100, sleep=NO_SLEEP, options=o)
    assert breaker_row(conn, tenant) == ("open", 10)  # opened at the 10th consecutive failure
    requests_before = fake.state.stats()["responses"]["5xx"]
    summary = run_dispatch(conn, settings, now=t0 + 150, sleep=NO_SLEEP, options=o)
    assert summary["skipped_breaker_open"] == 1
    assert fake.state.stats()["responses"]["5xx"] == requests_before  # nothing sent while open
    # cool-down over: half-open probe fails -> open again
    summary = run_dispatch(conn, settings, now=t0 + 200, sleep=NO_SLEEP, options=o)
    assert summary["probes"] == 1 and breaker_row(conn, tenant)[0] == "open"
    assert fake.state.stats()["responses"]["5xx"] == requests_before + 1
    # next probe succeeds -> closed and delivered
    fake.configure(fail_rate=0.0)
    run_dispatch(conn, settings, now=t0 + 300, sleep=NO_SLEEP, options=o)
    assert breaker_row(conn, tenant) == ("closed", 0)
    assert fake.event_ids() == [event_id]


def test_deadline_expires_without_sending_and_retries_stop_before_cutoff(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    now = time.time()
    old = add_purchase(
        conn, tenant, approved_at=datetime.now(UTC) - timedelta(days=7) + timedelta(minutes=30)
    )
    near = add_purchase(
        conn,
        tenant,
        approved_at=datetime.fromtimestamp(now, UTC) - timedelta(days=7) + timedelta(seconds=3600 + 5),
    )  # deadline = now + 5 s with the 1 h margin
    fake.configure(fail_rate=1.0)
    slept: list[float] = []
    summary = run_dispatch(conn, settings, now=now, sleep=slept.append, options=opts(breaker_threshold=100))
    assert summary["expired"] == 1
    assert queue_status(conn, old) == "dlq"
    assert {r["event_id"]: r["reason"] for r in list_dlq(conn, tenant_id=tenant)} == {old: "expired"}
    assert slept == [1, 2]  # the 4 s wait would cross the deadline
    fake.configure(fail_rate=0.0)
    run_dispatch(conn, settings, now=now + 10, sleep=NO_SLEEP, options=opts())
    assert queue_status(conn, near) == "dlq" and fake.event_ids() == []


def test_crash_between_send_and_record_resends_same_event_id(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant()
    ids = [add_purchase(conn, tenant) for _ in range(3)]

    def crash(pixel_id, events, result):
        raise RuntimeError("simulated crash after the HTTP call returned")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts(), after_send=crash)
    assert sorted(fake.event_ids()) == sorted(ids)  # Meta got them ...
    assert {queue_status(conn, i) for i in ids} == {"pending"}  # ... but nothing was recorded
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 3
    counts = {i: fake.event_ids().count(i) for i in ids}
    assert counts == dict.fromkeys(ids, 2)  # re-sent with the same event_id (Meta dedupes)
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert len(fake.event_ids()) == 6  # and never again


def test_token_error_stops_tenant_without_retry_storm(conn, make_tenant, fake, settings):
    tenant, _ = make_tenant(meta_token="revoked-token")
    other, _ = make_tenant()
    ids = [add_purchase(conn, tenant) for _ in range(3)]
    ok = add_purchase(conn, other)
    fake.configure(revoked_tokens=["revoked-token"])
    slept: list[float] = []
    summary = run_dispatch(conn, settings, sleep=slept.append, options=opts(batch_size=1, concurrency=1))
    assert slept == [] and summary["sent"] == 1 and fake.event_ids() == [ok]
    assert fake.state.stats()["responses"]["auth"] == 1  # stopped after the first 190
    status = conn.execute(
        "SELECT status, error_code FROM ops.meta_token_status WHERE tenant_id = %s", (tenant,)
    ).fetchone()
    assert status == ("invalid", 190)
    assert {queue_status(conn, i) for i in ids} == {"blocked"}
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert fake.state.stats()["responses"]["auth"] == 1  # no retry storm
    # Explicit times instead of a sleep: the token was set two minutes ago and found invalid one minute
    # ago, so the tenant stays blocked until the seller rotates it now.
    conn.execute(
        "UPDATE ops.meta_token_status SET checked_at = now() - interval '1 minute' WHERE tenant_id = %s",
        (tenant,),
    )
    conn.execute(
        """UPDATE core.tenant_secrets SET updated_at = now() - interval '2 minutes'
            WHERE tenant_id = %s AND kind = 'meta_token'""",
        (tenant,),
    )
    assert run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())["sent"] == 0
    tenants.set_secret(conn, tenant, "meta_token", "new-good-token")
    summary = run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert summary["sent"] == 3 and sorted(fake.event_ids()) == sorted([ok, *ids])
    assert (
        conn.execute("SELECT status FROM ops.meta_token_status WHERE tenant_id = %s", (tenant,)).fetchone()[0]
        == "ok"
    )


def test_faults_survived_with_no_loss_and_no_duplicates(conn, make_tenant, fake, settings):
    tenant_a, _ = make_tenant(pixel_id="222222")
    tenant_b, _ = make_tenant(pixel_id="333333")
    ids = [add_purchase(conn, t, matched=i % 2 == 0) for i, t in enumerate([tenant_a, tenant_b] * 60)]
    fake.configure(fail_rate=0.3, throttle_rate=0.2, timeout_rate=0.1, timeout_seconds=1.0)
    settings = Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 0.3})
    now = time.time()
    for run in range(12):
        run_dispatch(
            conn,
            settings,
            now=now + run * 400,
            sleep=NO_SLEEP,
            options=opts(batch_size=7, concurrency=4, retry_later_seconds=300),
        )
        if all(queue_status(conn, i) == "sent" for i in ids):
            break
    assert all(queue_status(conn, i) == "sent" for i in ids)
    received = fake.event_ids()
    assert set(received) == set(ids)  # no loss
    # No duplicate event_id, except the one case no client can rule out: the fake accepted a batch but
    # its answer came after our timeout (a loaded machine), so the batch went again with the same
    # event_ids (Meta dedupes them). An id may arrive at most once more than it had attempts with no answer.
    unanswered = dict(
        conn.execute(
            """SELECT event_id, count(*) FROM ops.dispatch_attempts
                WHERE event_id = ANY(%s) AND status = 'retryable_error' AND http_status IS NULL
                GROUP BY event_id""",
            (ids,),
        ).fetchall()
    )
    assert unanswered  # the injected timeouts are recorded as attempts without an answer
    over = {i: received.count(i) for i in set(received) if received.count(i) > 1 + unanswered.get(i, 0)}
    assert over == {}, "sent again after an answer had been seen"
    attempts = conn.execute(
        "SELECT count(DISTINCT status) FROM ops.dispatch_attempts WHERE event_id = ANY(%s)", (ids,)
    ).fetchone()[0]
    assert attempts >= 2  # faults happened and were recorded


def test_replay_goes_through_the_verification_gate(conn, make_tenant, fake, settings):
    """A DLQ'd order whose values changed since it was verified (e.g. a forged update with a leaked token)
    is held by replay exactly as enqueue would hold it; the verified one next to it is replayed."""
    tenant, _ = make_tenant()
    ids = [add_purchase(conn, tenant) for _ in range(2)]
    fake.configure(reject_event_ids=ids)
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert {r["event_id"] for r in list_dlq(conn, tenant_id=tenant)} == set(ids)
    conn.execute("UPDATE core.purchases SET amount = 99999 WHERE event_id = %s", (ids[0],))
    fake.configure(reject_event_ids=[])
    result = replay(conn, tenant_id=tenant)
    assert result["held_unverified"] == [ids[0]] and result["event_ids"] == [ids[1]]
    run_dispatch(conn, settings, sleep=NO_SLEEP, options=opts())
    assert fake.event_ids() == [ids[1]] and queue_status(conn, ids[0]) == "dlq"
