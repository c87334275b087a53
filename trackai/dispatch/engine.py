"""``run_dispatch``: one dispatch run, shared by the Dagster asset, the demo, the DLQ job and tests.

This module is the run loop only; the decisions are ``policy`` (pure), the sending ``delivery``, the rows
to write ``recording`` (pure) + ``store.apply``, the log lines ``logs``.

Order of a run (under a Postgres advisory lock, so two runs never send the same event at once):
1. enqueue new approved registry events (payload built now, deadline = event time + 7 d - margin);
2. put back 'blocked' events of tenants whose token was replaced; expire events at their deadline;
3. claim due pending events and prepare each: invalid optional browser ids (fbc, fbp) are dropped with
   the reason stored in ``ops.dispatch_queue.dropped_fields``; an event still invalid -> DLQ, never in a
   batch;
4. per (tenant, pixel): ask the breaker, cut batches of <= batch_size, send them with bounded
   concurrency over one pooled httpx client; retryable errors back off 1, 2, 4, 8, 16 s (injectable
   ``sleep``; never past the deadline), then stay pending with ``next_attempt_at``; code 100 bisects
   the batch, delivers the rest and DLQs the bad event(s) with Meta's title/message; 190 (or a
   permission error) stops the tenant and raises the token alarm;
5. record each batch's outcome in one transaction: attempts rows, queue state, DLQ, breaker.

Effectively once: a queue row becomes 'sent' only when its 2xx is recorded. A crash after the HTTP
call and before the record leaves it 'pending', so the next run re-sends the same event_id (Meta
dedupes on event_id for 48 h). A 'sent' row is never claimed again; only a DLQ replay re-queues it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import httpx
import psycopg

from trackai import tenants
from trackai.dispatch import breaker as breakers
from trackai.dispatch import logs, policy, quota, recording, store
from trackai.dispatch.delivery import AfterSend, Attempt, BatchOutcome, Clock, Deliverer, Destination
from trackai.dispatch.policy import DispatchOptions
from trackai.dispatch.sender import Sender
from trackai.settings import Settings, get_settings

ADVISORY_LOCK_KEY = 0x7A_C4_D1_5B  # "trackai dispatch"
# While batches are in flight (a failing one backs off for up to 31 s), breaker changes reach
# ops.circuit_breakers this often, so the exporter and the page see an outage without waiting for the batch.
BREAKER_FLUSH_SECONDS = 0.5
# Names kept for callers of the former single-module engine.
_log_outcome = logs.log_outcome
__all__ = ["Attempt", "BatchOutcome", "Clock", "DispatchOptions", "RunSummary", "run_dispatch"]


@dataclass
class RunSummary:
    """Counts of one run (``run_dispatch`` returns ``as_dict()``)."""

    skipped: str | None = None
    enqueued: int = 0
    unblocked: int = 0
    expired: int = 0
    claimed: int = 0
    dropped_fields: int = 0
    invalid: int = 0
    batches: int = 0
    probes: int = 0
    skipped_breaker_open: int = 0
    sent: int = 0
    rejected: int = 0
    retry_later: int = 0
    blocked: int = 0
    not_attempted: int = 0
    quota_held: int = 0
    quota_released: int = 0
    quota_expired: int = 0
    requests: int = 0
    breakers: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0

    def add(self, outcome: BatchOutcome) -> None:
        self.sent += len(outcome.sent)
        self.rejected += len(outcome.rejected)
        self.retry_later += len(outcome.retry)
        self.blocked += len(outcome.blocked)
        self.not_attempted += len(outcome.skipped)
        self.requests += len(outcome.attempts)

    def as_dict(self) -> dict:
        data = asdict(self)
        if data["skipped"] is None:
            del data["skipped"]
        return data


@dataclass(frozen=True)
class RunRequest:
    """One run's inputs (``run_dispatch``'s keywords, gathered)."""

    settings: Settings
    options: DispatchOptions
    clock: Clock
    transport: httpx.BaseTransport | None = None
    sender: Sender | None = None
    after_send: AfterSend | None = None
    tenant_id: str | None = None
    enqueue: bool = True


def _as_epoch(now: datetime | float | None) -> float | None:
    if now is None:
        return None
    return now.timestamp() if isinstance(now, datetime) else float(now)


def run_dispatch(
    conn_or_url: psycopg.Connection | str | None = None,
    settings: Settings | None = None,
    *,
    now: datetime | float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    options: DispatchOptions | None = None,
    transport: httpx.BaseTransport | None = None,
    sender: Sender | None = None,
    after_send: AfterSend | None = None,
    tenant_id: str | None = None,
    enqueue: bool = True,
) -> dict:
    """One dispatch run; returns a summary dict (counts per outcome, breakers, duration).

    ``now`` pins a virtual clock (tests) that the injected ``sleep`` advances; ``after_send`` is
    called after every HTTP response and before anything is recorded (crash injection in tests).
    """
    settings = settings or get_settings()
    request = RunRequest(
        settings=settings,
        options=options or DispatchOptions.from_settings(settings),
        clock=Clock(_as_epoch(now), sleep),
        transport=transport,
        sender=sender,
        after_send=after_send,
        tenant_id=tenant_id,
        enqueue=enqueue,
    )
    if isinstance(conn_or_url, psycopg.Connection):
        return _locked_run(conn_or_url, request).as_dict()
    from trackai import db

    with db.connect(conn_or_url or db.database_url(settings)) as conn:
        return _locked_run(conn, request).as_dict()


def _locked_run(conn: psycopg.Connection, request: RunRequest) -> RunSummary:
    started = time.perf_counter()
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
        return RunSummary(skipped="another dispatch run holds the lock")
    settings, options = request.settings, request.options
    sender = request.sender or Sender(
        settings.meta_graph_url,
        settings.meta_api_version,
        timeout_seconds=settings.capi.timeout_seconds,
        max_connections=options.concurrency,
        transport=request.transport,
    )
    try:
        summary = _run(conn, request, sender)
    finally:
        if request.sender is None:
            sender.close()
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    summary.duration_s = round(time.perf_counter() - started, 3)
    return summary


def _claim(conn: psycopg.Connection, request: RunRequest, summary: RunSummary) -> list[store.QueuedEvent]:
    """Steps 1-3: enqueue, unblock, expire, claim, prepare; returns the events ready to send."""
    clock, options = request.clock, request.options
    if request.enqueue:
        summary.enqueued = store.enqueue(
            conn,
            margin=timedelta(seconds=options.deadline_margin_seconds),
            now=store.utc(clock.now()),
            tenant_id=request.tenant_id,
        )
    blocked = store.blocked_tenants(conn)
    summary.unblocked = store.unblock(conn, blocked)
    start = store.utc(clock.now())
    summary.quota_released, summary.quota_expired = quota.before_claim(conn, start)  # billing (issue 18)
    summary.expired = store.expire(conn, start)
    due = store.claim_due(
        conn, start, limit=options.claim_limit, skip_tenants=blocked, tenant_id=request.tenant_id
    )
    summary.claimed = len(due)
    ready, invalid, cleaned = [], [], {}
    now = clock.now()
    for event in due:
        prepared = policy.prepare(event.payload, now)
        if prepared.dropped:
            cleaned[event.event_id] = (prepared.payload, list(prepared.dropped))
            event.payload = prepared.payload
            logs.log_dropped(event, prepared.dropped)
        if prepared.valid:
            ready.append(event)
        else:
            invalid.append((event, prepared.issues))
    ready, summary.quota_held = quota.admit_claimed(conn, ready, start)  # billing (issue 18)
    store.note_dropped(conn, cleaned)
    summary.dropped_fields = sum(len(reasons) for _, reasons in cleaned.values())
    if invalid:
        store.apply(conn, recording.invalid_changes(invalid, start))
        logs.log_invalid(invalid)
    summary.invalid = len(invalid)
    return ready


def _destination(conn: psycopg.Connection, tenant_id: str, pixel_id: str) -> Destination | None:
    token = tenants.get_secret(conn, tenant_id, "meta_token")
    if not token:
        return None
    row = conn.execute(
        "SELECT test_event_code FROM core.tenants WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()
    return Destination(tenant_id, pixel_id, token, row[0] if row else None)


def _completed_flushing_breakers(
    futures: list[Future],
    conn: psycopg.Connection,
    pixel_breakers: dict[tuple[str, str], breakers.Breaker],
    clock: Clock,
):
    """Yield the futures as they complete; meanwhile save changed breakers every BREAKER_FLUSH_SECONDS
    (failure counts and an opening, from the sending threads) on this thread's connection."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=BREAKER_FLUSH_SECONDS, return_when=FIRST_COMPLETED)
        for breaker in list(pixel_breakers.values()):
            breakers.save(conn, breaker, clock.now())
        yield from done


def _run(conn: psycopg.Connection, request: RunRequest, sender: Sender) -> RunSummary:
    summary = RunSummary()
    clock, options = request.clock, request.options
    ready = _claim(conn, request, summary)
    by_pixel: dict[tuple[str, str], list[store.QueuedEvent]] = defaultdict(list)
    for event in ready:
        by_pixel[(event.tenant_id, event.pixel_id)].append(event)

    deliverer = Deliverer(sender, options, clock, request.after_send)
    pixel_breakers: dict[tuple[str, str], breakers.Breaker] = {}
    destinations: dict[str, Destination | None] = {}
    executor = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="capi")
    try:
        futures = []
        for (tid, pixel), events in by_pixel.items():
            if tid not in destinations:
                destinations[tid] = _destination(conn, tid, pixel)
            to = destinations[tid]
            if to is None:
                with conn.transaction():
                    store.block_tenant(conn, tid, None, "no meta_token configured", store.utc(clock.now()))
                summary.blocked += len(events)
                continue
            to = Destination(tid, pixel, to.token, to.test_event_code)
            breaker = breakers.load(
                conn,
                tid,
                pixel,
                threshold=options.breaker_threshold,
                cooldown_seconds=options.breaker_cooldown_seconds,
            )
            pixel_breakers[(tid, pixel)] = breaker
            plan = policy.plan_batches(events, breaker.decide(clock.now()), options.batch_size)
            summary.skipped_breaker_open += plan.skipped
            summary.probes += plan.probe
            futures += [executor.submit(deliverer.send_batch, to, batch, breaker) for batch in plan.batches]
        summary.batches = len(futures)
        for future in _completed_flushing_breakers(futures, conn, pixel_breakers, clock):
            outcome = future.result()  # an exception here is a crash: nothing of that batch is recorded
            changes = recording.outcome_changes(
                outcome, now=clock.now(), retry_later_seconds=options.retry_later_seconds
            )
            store.apply(conn, changes)
            quota.send_notices(changes)  # billing thresholds, after the commit (issue 18)
            logs.log_outcome(outcome)
            summary.add(outcome)
            breakers.save(conn, pixel_breakers[(outcome.tenant_id, outcome.pixel_id)], clock.now())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    for breaker in pixel_breakers.values():
        breakers.save(conn, breaker, clock.now())
    summary.breakers = {
        f"{b.tenant_id}/{b.pixel_id}": b.state for b in pixel_breakers.values() if b.state != breakers.CLOSED
    }
    return summary
