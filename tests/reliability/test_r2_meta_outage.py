"""R2 Meta outage: the Graph API fails (HTTP 5xx, then code 17, then timeouts) for a while, then recovers.

Real processes: the fake is ``trackai capi-mock`` (its own process, faults switched over /_mock/config);
every dispatch run is a fresh Python process running the production ``run_dispatch`` with
``DispatchOptions.from_settings`` (what the Dagster asset calls once per micro-batch), against a real
Postgres. Time is compressed 20x through the production knobs: back-offs 1-2-4-8-16 s become
0.05-...-0.8 s, the breaker cool-down (TRACKAI_CAPI_BREAKER_COOLDOWN_SECONDS) 60 s -> 6 s (10x: it must outlast
the ~3 s a fresh dispatch process needs to start, so some runs find the breaker open), the
"retry later" 300 s -> 1 s, the request timeout (TRACKAI_CAPI_TIMEOUT_SECONDS) 1.5 s -> 0.5 s.
One pixel, 60 events, batches of 20, concurrency 1 (TRACKAI_CAPI_CONCURRENCY) so the count of
failed requests at which the breaker opens is exact.

The phases are driven by what the fake answered (not by wall time), so the story is deterministic:
10 x HTTP 500 (run 1: batch 1 gets 1 + 5 retries, batch 2 four, the 10th opens the breaker and batch 3
is not attempted), then half-open probes answered code 17 twice and timeouts twice (each re-opens the
breaker for a new cool-down), then a healthy probe closes it and the rest is delivered.
"""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

from ._dispatch_env import (
    CapiMockProcess,
    attempt_rows,
    breaker_row,
    child_env,
    queue_rows,
    requests_from_attempts,
    run_dispatch_process,
    seed_purchases,
)

EVENTS = 60
BATCH = 20
COOLDOWN_S = 6.0  # longer than a dispatch process takes to start, so some runs find the breaker open
CLIENT_TIMEOUT_S = 0.5
BACKOFF_S = (0.05, 0.1, 0.2, 0.4, 0.8)  # production 1, 2, 4, 8, 16 s, / 20
RUN_OPTIONS = {"backoff_seconds": list(BACKOFF_S), "retry_later_seconds": 1.0}  # production 300 s
TICK_S = 0.1  # the sensor's minute, compressed
TIME_BUDGET_S = 120

HEALTHY = {"fail_rate": 0.0, "throttle_rate": 0.0, "timeout_rate": 0.0}
PHASES = (  # (name, fake config, fake response kind, how many before moving on)
    ("5xx", {**HEALTHY, "fail_rate": 1.0}, "5xx", 10),
    ("code17", {**HEALTHY, "throttle_rate": 1.0}, "throttled", 2),
    ("timeout", {**HEALTHY, "timeout_rate": 1.0, "timeout_seconds": 2.0}, "timeout", 2),
    ("recovered", HEALTHY, None, None),
)


def _kind(request: dict) -> str:
    if request["status"] == "success":
        return "ok"
    if request["http_status"] == 500 and request["error_code"] == 2:
        return "5xx"
    if request["http_status"] == 400 and request["error_code"] == 17:
        return "code17"
    if request["http_status"] is None and "Timeout" in (request["error_message"] or ""):
        return "timeout"
    return f"other:{request['status']}/{request['http_status']}/{request['error_code']}"


def test_r2_meta_outage_breaker_and_full_delivery(conn, pg_url, make_tenant, tmp_path, record_figures):
    started = time.monotonic()
    tenant, _ = make_tenant(pixel_id="222000222")
    event_ids = set(seed_purchases(conn, tenant, EVENTS, prefix="r2"))
    assert len(event_ids) == EVENTS

    with CapiMockProcess(tmp_path / "logs", "--seed", "2") as fake:
        env = child_env(
            fake.url,
            TRACKAI_DATABASE_URL=pg_url,
            TRACKAI_CAPI_BATCH_SIZE=str(BATCH),
            TRACKAI_CAPI_CONCURRENCY="1",
            TRACKAI_CAPI_BREAKER_COOLDOWN_SECONDS=str(COOLDOWN_S),
            TRACKAI_CAPI_TIMEOUT_SECONDS=str(CLIENT_TIMEOUT_S),
            TRACKAI_LOG_LEVEL="INFO",
        )
        phase = 0
        fake.configure(**PHASES[0][1])
        phase_started = {PHASES[0][0]: 0.0}
        summaries: list[dict] = []
        breaker_history: list[tuple[float, str, int]] = []  # (t, state, consecutive_failures) on change
        while True:
            assert time.monotonic() - started < TIME_BUDGET_S, (
                f"outage not recovered within {TIME_BUDGET_S}s: phase {PHASES[phase][0]}, "
                f"runs {len(summaries)}, last summary {summaries[-1] if summaries else None}"
            )
            summary = run_dispatch_process(
                env, tmp_path / "logs", f"dispatch-{len(summaries) + 1:02d}", RUN_OPTIONS
            )
            assert "skipped" not in summary, summary  # runs are sequential: the lock is always free
            summaries.append(summary)
            row = breaker_row(conn, tenant)
            if len(summaries) == 1:
                after_run1 = row
            if row and (
                not breaker_history or breaker_history[-1][1:] != (row["state"], row["consecutive_failures"])
            ):
                breaker_history.append(
                    (round(time.monotonic() - started, 2), row["state"], row["consecutive_failures"])
                )
            _, _, kind, needed = PHASES[phase]
            if kind is not None and fake.stats()["responses"].get(kind, 0) >= needed:
                phase += 1
                fake.configure(**PHASES[phase][1])
                phase_started[PHASES[phase][0]] = round(time.monotonic() - started, 2)
            queue = queue_rows(conn, tenant)
            if PHASES[phase][0] == "recovered" and all(v[0] == "sent" for v in queue.values()):
                break
            time.sleep(TICK_S)
        stats = fake.stats()
        accepted = fake.accepted()

    # --- run 1: ten 5xx in a row open the breaker, the third batch is not even attempted
    first = summaries[0]
    assert (first["requests"], first.get("sent", 0), first["retry_later"], first["not_attempted"]) == (
        10,
        0,
        2 * BATCH,
        BATCH,
    ), first
    assert first["breakers"] == {f"{tenant}/222000222": "open"}
    assert breaker_history[0][1:] == ("open", 10), breaker_history

    # --- every event delivered exactly once to the fake, nothing in the DLQ
    queue = queue_rows(conn, tenant)
    assert set(queue) == event_ids and {v[0] for v in queue.values()} == {"sent"}
    accepted_ids = [e["event_id"] for e in accepted]
    assert sorted(accepted_ids) == sorted(event_ids)
    assert stats["events_received"] == EVENTS and stats["duplicate_event_ids"] == 0, stats
    assert conn.execute("SELECT count(*) FROM ops.dlq WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0

    # --- the breaker: open after exactly 10 consecutive failures, closed after the healthy probe
    final = breaker_row(conn, tenant)
    assert (final["state"], final["consecutive_failures"], final["opened_at"]) == ("closed", 0, None)
    assert breaker_history[-1][1:] == ("closed", 0)
    assert all(state == "open" for _, state, _ in breaker_history[:-1]), breaker_history

    # --- dispatch_attempts tells the story, request by request
    rows = attempt_rows(conn, tenant)
    requests = requests_from_attempts(rows)
    kinds = [_kind(r) for r in requests]
    assert kinds == ["5xx"] * 10 + ["code17"] * 2 + ["timeout"] * 2 + ["ok"] * 3, kinds
    assert stats["responses"] == {"5xx": 10, "throttled": 2, "timeout": 2, "ok": 3}, stats
    assert [r["events"] for r in requests[:10]] == [BATCH] * 10
    assert {r["status"] for r in requests[:14]} == {"retryable_error"}
    # nothing was sent while the breaker was open: after the 10th failure every request waited a cool-down
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(requests[9:15])]
    assert min(gaps) >= COOLDOWN_S - 0.05, gaps
    skip_runs = [s for s in summaries if s.get("skipped_breaker_open") == EVENTS and not s.get("requests")]
    assert skip_runs, "no dispatch run found the breaker open (runs slower than the cool-down?)"
    # the 10th failure is what opened it: the persisted opened_at of run 1 is that response's time
    opened_at_run1 = after_run1["opened_at"]
    assert timedelta(0) <= opened_at_run1 - requests[9]["at"] < timedelta(seconds=1)
    assert after_run1["last_failure_at"] == opened_at_run1
    # within run 1, the first batch was retried with the (compressed) production back-off schedule
    run1 = requests[:6]
    waits = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(run1)]
    assert all(w >= s - 0.01 for w, s in zip(waits, BACKOFF_S, strict=True)), waits
    # per event: attempts numbered 1..n, exactly one success and it is the last, queue.attempts agrees
    by_event: dict[str, list[dict]] = {}
    for row in rows:
        by_event.setdefault(row["event_id"], []).append(row)
    assert set(by_event) == event_ids
    for event_id, event_rows in by_event.items():
        numbers = [r["attempt_no"] for r in event_rows]
        assert numbers == list(range(1, len(numbers) + 1)), (event_id, numbers)
        assert [r["status"] for r in event_rows].count("success") == 1
        assert event_rows[-1]["status"] == "success"
        assert queue[event_id][1] == len(event_rows)
    attempts_by_status: dict[str, int] = {}
    for row in rows:
        attempts_by_status[row["status"]] = attempts_by_status.get(row["status"], 0) + 1

    closed_at = requests[14]["at"]  # the healthy probe closed it
    record_figures(
        {
            "events": EVENTS,
            "batch_size": BATCH,
            "dispatch_runs": len(summaries),
            "delivered": len(set(accepted_ids)),
            "events_received_by_fake": stats["events_received"],
            "duplicates_received_by_fake": stats["duplicate_event_ids"],
            "fake_responses": stats["responses"],
            "requests_by_kind": {k: kinds.count(k) for k in dict.fromkeys(kinds)},
            "attempt_rows_by_status": attempts_by_status,
            "breaker_threshold": 10,
            "breaker_failures_when_opened": breaker_history[0][2],
            "breaker_history": breaker_history,
            "breaker_opened_at": opened_at_run1.isoformat(),
            "breaker_closed_at": closed_at.isoformat(),
            "breaker_open_seconds": round((closed_at - opened_at_run1).total_seconds(), 2),
            "cooldown_seconds": COOLDOWN_S,
            "min_gap_while_open_seconds": round(min(gaps), 3),
            "phase_started_s": phase_started,
            "runs_skipped_by_open_breaker": len(skip_runs),
            "half_open_probes": sum(s.get("probes", 0) for s in summaries),
            "run_durations_s": [s["duration_s"] for s in summaries],
            "compression": "back-off / 20, retry-later / 300, cool-down / 10, request timeout / 3",
            "runtime_s": round(time.monotonic() - started, 1),
        }
    )
    assert timedelta(seconds=0) < closed_at - opened_at_run1 < timedelta(seconds=TIME_BUDGET_S)
