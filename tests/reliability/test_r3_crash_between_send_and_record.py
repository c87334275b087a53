"""R3 crash between send and record: the dispatch process dies after Meta accepted a batch, before the record.

Real processes: the dispatch run is a fresh Python process (production ``run_dispatch``, options from
the env) against a real Postgres. The Graph API fake runs in the test process, wrapped so that it
*accepts and records* the 2nd batch and then holds its 200 back: the child is provably stuck between
"Meta accepted" and "ops.dispatch_queue / dispatch_attempts updated". The test SIGKILLs the child's
process group right there, then runs a new dispatch process.

Expected (engine.py: "effectively once"): the killed batch stays 'pending' with no attempt row, the
next run re-sends exactly those events with the same event_ids and the same payload (Meta dedupes on
event_id), sends the never-sent batch once, re-sends nothing else, and a third run sends nothing.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

from ._dispatch_env import (
    HoldingFake,
    attempt_rows,
    breaker_row,
    child_env,
    queue_rows,
    run_dispatch_process,
    seed_purchases,
    start_dispatch,
    wait_until,
)

BATCH = 10
EVENTS = 3 * BATCH
HOLD_ON = 2  # the fake holds the answer to the 2nd accepted request
ADVISORY_LOCK_KEY = 0x7A_C4_D1_5B  # trackai.dispatch.engine.ADVISORY_LOCK_KEY


def _strip(event: dict) -> dict:
    return {k: v for k, v in event.items() if not k.startswith("_")}


def _lock_holders(conn) -> int:
    return conn.execute(
        """SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND d.datname = current_database()""",
        (ADVISORY_LOCK_KEY,),
    ).fetchone()[0]


def test_r3_crash_after_accept_before_record_resends_only_that_batch(
    conn, pg_url, make_tenant, tmp_path, record_figures
):
    started = time.monotonic()
    tenant, _ = make_tenant(pixel_id="333000333")
    ids = seed_purchases(conn, tenant, EVENTS, prefix="r3")
    first, held, never = ids[:BATCH], ids[BATCH : 2 * BATCH], ids[2 * BATCH :]
    logs = tmp_path / "logs"

    with HoldingFake(hold_on=HOLD_ON, max_hold=90) as fake:
        env = child_env(
            fake.url,
            TRACKAI_DATABASE_URL=pg_url,
            TRACKAI_CAPI_BATCH_SIZE=str(BATCH),
            TRACKAI_CAPI_CONCURRENCY="1",
            TRACKAI_LOG_LEVEL="INFO",
        )
        # run 1: a long request timeout, so the held answer can only end by the kill
        with start_dispatch(
            {**env, "TRACKAI_CAPI_TIMEOUT_SECONDS": "60"}, logs, "dispatch-1-killed"
        ) as child:
            wait_until(
                lambda: fake.held.is_set() or not child.alive(), 60, what="the 2nd batch to be accepted"
            )
            assert child.alive(), f"dispatch exited before the hold:\n{child.stderr()[-2000:]}"
            # the first batch's 200 was recorded by the parent thread while the 2nd was in flight
            wait_until(
                lambda: all(queue_rows(conn, tenant).get(i, ("",))[0] == "sent" for i in first),
                20,
                what="batch 1 recorded",
            )
            assert child.alive(), "the dispatch process must still be waiting for Meta's answer"
            killed_at = time.time()
            child.kill(signal.SIGKILL)
            code = child.proc.wait(timeout=10)
        fake.release()
        assert code == -signal.SIGKILL
        kill_after_accept_ms = round((killed_at - fake.held_at) * 1000)

        # Meta has both batches; our books have only the first
        assert fake.event_ids() == first + held
        assert [r["events"] for r in fake.requests] == [BATCH, BATCH]
        queue = queue_rows(conn, tenant)
        assert {i: queue[i][:2] for i in first} == {i: ("sent", 1) for i in first}
        assert {i: queue[i][:2] for i in held + never} == {i: ("pending", 0) for i in held + never}
        rows = attempt_rows(conn, tenant)
        assert sorted(r["event_id"] for r in rows) == sorted(first)
        assert {r["status"] for r in rows} == {"success"}
        # the killed session's advisory lock goes with its connection
        lock_wait = time.monotonic()
        wait_until(lambda: _lock_holders(conn) == 0, 20, 0.02, "the killed run's advisory lock to go")
        lock_released_ms = round((time.monotonic() - lock_wait) * 1000)

        # run 2: a new process re-sends the held batch (same event_ids) and sends the third batch
        second = run_dispatch_process(env, logs, "dispatch-2")
        assert (second["claimed"], second["sent"], second["requests"], second.get("enqueued", 0)) == (
            2 * BATCH,
            2 * BATCH,
            2,
            0,
        ), second
        counts = Counter(fake.event_ids())
        assert {i: counts[i] for i in first} == dict.fromkeys(first, 1)
        assert {i: counts[i] for i in held} == dict.fromkeys(held, 2)  # re-sent once, same event_id
        assert {i: counts[i] for i in never} == dict.fromkeys(never, 1)
        assert set(counts) == set(ids)  # nothing lost, nothing foreign
        copies: dict[str, list[dict]] = {}
        for event in fake.events:
            copies.setdefault(event["event_id"], []).append(_strip(event))
        for i in held:
            assert copies[i][0] == copies[i][1], f"re-sent payload of {i} differs"
        assert fake.state.duplicates() == dict.fromkeys(held, 2)

        # run 3: nothing left to send, nothing sent again
        third = run_dispatch_process(env, logs, "dispatch-3")
        assert third.get("claimed", 0) == 0 and third.get("requests", 0) == 0, third
        assert len(fake.event_ids()) == EVENTS + BATCH
        stats = fake.state.stats()

    # the books end consistent: every event sent once in our records, one success row each
    queue = queue_rows(conn, tenant)
    assert {v[0] for v in queue.values()} == {"sent"} and set(queue) == set(ids)
    rows = attempt_rows(conn, tenant)
    per_event = Counter(r["event_id"] for r in rows)
    assert per_event == Counter(dict.fromkeys(ids, 1))
    assert {r["status"] for r in rows} == {"success"}
    assert all(queue[i][1] == 1 and queue[i][2] is not None for i in ids)
    assert len({r["batch_id"] for r in rows}) == 3
    assert breaker_row(conn, tenant) is None  # no failure ever reached the breaker
    assert conn.execute("SELECT count(*) FROM ops.dlq WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0

    record_figures(
        {
            "events": EVENTS,
            "batch_size": BATCH,
            "killed_during_request": HOLD_ON,
            "kill_after_accept_ms": kill_after_accept_ms,
            "advisory_lock_released_after_ms": lock_released_ms,
            "events_received_by_fake": stats["events_received"],
            "distinct_event_ids_at_fake": stats["distinct_event_ids"],
            "duplicates_received_by_fake": stats["duplicate_event_ids"],
            "resent_event_ids": len(held),
            "resent_other_events": sum(1 for i in first + never if counts[i] > 1),
            "lost": EVENTS - sum(1 for v in queue.values() if v[0] == "sent"),
            "attempt_rows_by_status": dict(Counter(r["status"] for r in rows)),
            "run2_summary": {k: second.get(k) for k in ("claimed", "sent", "requests", "batches")},
            "run3_claimed": third.get("claimed", 0),
            "runtime_s": round(time.monotonic() - started, 1),
        }
    )
