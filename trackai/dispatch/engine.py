"""``run_dispatch``: one dispatch run, shared by the Dagster asset, the demo, the DLQ job and tests.

Order of a run (under a Postgres advisory lock, so two runs never send the same event at once):
1. enqueue new approved registry events (payload built now, deadline = event time + 7 d - margin);
2. put back 'blocked' events of tenants whose token was replaced; expire events at their deadline;
3. claim due pending events, pre-validate each (invalid -> DLQ, never in a batch);
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

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import psycopg

from trackai import tenants
from trackai.core.capi import validate
from trackai.core.capi.errors import ErrorClass, GraphError
from trackai.dispatch import breaker as breakers
from trackai.dispatch import store
from trackai.dispatch.sender import Sender, SendResult
from trackai.settings import Settings, get_settings

ADVISORY_LOCK_KEY = 0x7A_C4_D1_5B  # "trackai dispatch"
log = logging.getLogger("trackai.dispatch")


@dataclass
class DispatchOptions:
    batch_size: int = 1000
    concurrency: int = 4
    backoff_seconds: tuple[float, ...] = (1, 2, 4, 8, 16)
    retry_later_seconds: float = 300.0
    breaker_threshold: int = 10
    breaker_cooldown_seconds: float = 60.0
    deadline_margin_seconds: float = 3600.0
    claim_limit: int = 200_000

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> DispatchOptions:
        """TRACKAI_CAPI_* (``settings.capi``), then ``overrides``."""
        capi = (settings or get_settings()).capi
        values: dict[str, object] = {
            "batch_size": capi.batch_size,
            "concurrency": capi.concurrency,
            "breaker_cooldown_seconds": capi.breaker_cooldown_seconds,
            "deadline_margin_seconds": capi.deadline_margin_seconds,
            **overrides,
        }
        options = cls(**values)  # type: ignore[arg-type]
        if not 1 <= options.batch_size <= validate.MAX_EVENTS_PER_REQUEST:
            raise ValueError("batch_size must be between 1 and 1000")
        return options


class Clock:
    """Wall clock, or a virtual one (``now`` given) advanced by the injected sleeps."""

    def __init__(self, start: float | None, sleep: Callable[[float], None]) -> None:
        self.virtual = start is not None
        self.start = start if start is not None else time.time()
        self.slept = 0.0
        self._sleep = sleep
        self._lock = threading.Lock()

    def now(self) -> float:
        if not self.virtual:
            return time.time()
        with self._lock:
            return self.start + self.slept

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)
        if self.virtual:
            with self._lock:
                self.slept = max(self.slept, 0.0) + seconds


@dataclass
class Attempt:
    event_ids: list[str]
    result: SendResult
    at: float


@dataclass
class BatchOutcome:
    tenant_id: str
    pixel_id: str
    events: list[store.QueuedEvent]
    batch_id: str
    attempts: list[Attempt] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)
    rejected: dict[str, GraphError] = field(default_factory=dict)
    retry: dict[str, GraphError] = field(default_factory=dict)
    blocked: dict[str, GraphError] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    stop_error: GraphError | None = None


class _Run:
    def __init__(
        self,
        sender: Sender,
        options: DispatchOptions,
        clock: Clock,
        after_send: Callable[[str, list[dict], SendResult], None] | None,
    ) -> None:
        self.sender = sender
        self.options = options
        self.clock = clock
        self.after_send = after_send
        self.stopped: set[str] = set()
        self.lock = threading.Lock()

    def send_batch(
        self,
        tenant_id: str,
        pixel_id: str,
        token: str,
        test_event_code: str | None,
        events: list[store.QueuedEvent],
        breaker: breakers.Breaker,
    ) -> BatchOutcome:
        outcome = BatchOutcome(tenant_id, pixel_id, events, str(uuid.uuid4()))
        self._deliver(outcome, token, test_event_code, events, breaker)
        return outcome

    def _deliver(
        self,
        outcome: BatchOutcome,
        token: str,
        test_event_code: str | None,
        events: list[store.QueuedEvent],
        breaker: breakers.Breaker,
    ) -> None:
        ids = [e.event_id for e in events]
        deadline = min(e.deadline_at for e in events)
        last: GraphError | None = None
        for attempt_index in range(len(self.options.backoff_seconds) + 1):
            with self.lock:
                stopped = outcome.tenant_id in self.stopped
            if stopped or not breaker.allows() or self.clock.now() >= deadline:
                break
            result = self.sender.send(outcome.pixel_id, token, [e.payload for e in events], test_event_code)
            if self.after_send is not None:
                self.after_send(outcome.pixel_id, [e.payload for e in events], result)
            outcome.attempts.append(Attempt(ids, result, self.clock.now()))
            error = result.error
            if error.error_class is ErrorClass.OK:
                breaker.success()
                outcome.sent.update(ids)
                return
            if error.error_class is ErrorClass.BAD_EVENT:
                if len(events) == 1:
                    outcome.rejected[ids[0]] = error
                    return
                middle = len(events) // 2
                self._deliver(outcome, token, test_event_code, events[:middle], breaker)
                self._deliver(outcome, token, test_event_code, events[middle:], breaker)
                return
            if error.error_class in (ErrorClass.AUTH, ErrorClass.PERMISSION):
                with self.lock:
                    self.stopped.add(outcome.tenant_id)
                outcome.stop_error = error
                outcome.blocked.update(dict.fromkeys(ids, error))
                return
            breaker.failure(self.clock.now())
            last = error
            if attempt_index == len(self.options.backoff_seconds) or not breaker.allows():
                break
            delay = self.options.backoff_seconds[attempt_index]
            if self.clock.now() + delay >= deadline:
                break  # retries stop before the cutoff; the next run expires it
            self.clock.sleep(delay)
        if last is None:  # never attempted (breaker opened, tenant stopped): leave the row as it is
            outcome.skipped.update(ids)
            return
        outcome.retry.update(dict.fromkeys(ids, last))


def _status_for(error: GraphError) -> str:
    return {
        ErrorClass.OK: "success",
        ErrorClass.RETRYABLE: "retryable_error",
        ErrorClass.BAD_EVENT: "fatal_error",
        ErrorClass.AUTH: "blocked",
        ErrorClass.PERMISSION: "blocked",
    }[error.error_class]


def _record(
    conn: psycopg.Connection,
    outcome: BatchOutcome,
    options: DispatchOptions,
    clock: Clock,
    summary: dict,
) -> None:
    now = store.utc(clock.now())
    by_id = {e.event_id: e for e in outcome.events}
    tries: dict[str, int] = defaultdict(int)
    rows: list[store.AttemptRow] = []
    for attempt in outcome.attempts:
        error = attempt.result.error
        for event_id in attempt.event_ids:
            event = by_id[event_id]
            tries[event_id] += 1
            rows.append(
                store.AttemptRow(
                    outcome.tenant_id,
                    event_id,
                    event.gateway,
                    outcome.pixel_id,
                    outcome.batch_id,
                    event.attempts + tries[event_id],
                    _status_for(error),
                    error.http_status,
                    error.code,
                    error.subcode,
                    None if error.error_class is ErrorClass.OK else error.describe(),
                    attempt.result.latency_ms,
                    error.fbtrace_id,
                    attempt.at,
                )
            )
    with conn.transaction():
        store.write_attempts(conn, rows, now)
        if outcome.sent:
            store.mark_sent(conn, {i: tries[i] for i in outcome.sent}, now)
            store.token_ok(conn, outcome.tenant_id, now)
        if outcome.rejected:
            store.dlq_upsert(
                conn,
                [
                    store.DlqRow(
                        i,
                        outcome.tenant_id,
                        by_id[i].gateway,
                        "meta_rejected",
                        e.code,
                        e.subcode,
                        e.user_title,
                        e.user_msg or e.message,
                        by_id[i].payload,
                    )
                    for i, e in outcome.rejected.items()
                ],
            )
            for i, e in outcome.rejected.items():
                store.mark_dlq(conn, {i: tries[i]}, e.describe(), now)
        if outcome.retry:
            next_at = store.utc(clock.now() + options.retry_later_seconds)
            first = next(iter(outcome.retry.values()))
            store.mark_retry(conn, {i: tries[i] for i in outcome.retry}, first.describe(), next_at, now)
        if outcome.stop_error is not None:
            store.mark_retry(
                conn, {i: tries[i] for i in outcome.blocked}, outcome.stop_error.describe(), now, now
            )
            store.block_tenant(
                conn, outcome.tenant_id, outcome.stop_error.code, outcome.stop_error.describe(), now
            )
    _log_outcome(outcome)
    summary["sent"] += len(outcome.sent)
    summary["rejected"] += len(outcome.rejected)
    summary["retry_later"] += len(outcome.retry)
    summary["blocked"] += len(outcome.blocked)
    summary["not_attempted"] += len(outcome.skipped)
    summary["requests"] += len(outcome.attempts)


def _log_outcome(outcome: BatchOutcome) -> None:
    """One JSON line per recorded batch; one per event that needs a human (DLQ, retry, blocked)."""
    context = {"tenant_id": outcome.tenant_id, "pixel_id": outcome.pixel_id, "batch_id": outcome.batch_id}
    last = outcome.attempts[-1].result.error if outcome.attempts else None
    log.info(
        "capi batch recorded",
        extra={
            **context,
            "events": len(outcome.events),
            "outcome": f"sent={len(outcome.sent)} rejected={len(outcome.rejected)} "
            f"retry={len(outcome.retry)} blocked={len(outcome.blocked)} skipped={len(outcome.skipped)}",
            "status": last.http_status if last else None,
            "code": last.code if last else None,
        },
    )
    if log.isEnabledFor(logging.DEBUG):
        for event_id in outcome.sent:
            log.debug("event sent", extra={**context, "event_id": event_id, "outcome": "sent"})
    for kind, errors in (
        ("rejected", outcome.rejected),
        ("retry", outcome.retry),
        ("blocked", outcome.blocked),
    ):
        for event_id, error in errors.items():
            log.warning(
                f"event {kind}: {error.describe()}",
                extra={**context, "event_id": event_id, "outcome": kind, "code": error.code},
            )


def _dlq_invalid(
    conn: psycopg.Connection, invalid: list[tuple[store.QueuedEvent, list[validate.Issue]]], now: datetime
) -> None:
    if not invalid:
        return
    with conn.transaction():
        store.write_attempts(
            conn,
            [
                store.AttemptRow(
                    e.tenant_id,
                    e.event_id,
                    e.gateway,
                    e.pixel_id,
                    None,
                    e.attempts + 1,
                    "invalid",
                    message="; ".join(str(i) for i in issues),
                )
                for e, issues in invalid
            ],
            now,
        )
        store.dlq_upsert(
            conn,
            [
                store.DlqRow(
                    e.event_id,
                    e.tenant_id,
                    e.gateway,
                    "invalid",
                    None,
                    issues[0].subcode,
                    issues[0].title,
                    "; ".join(i.message for i in issues),
                    e.payload,
                )
                for e, issues in invalid
            ],
        )
        for e, issues in invalid:
            store.mark_dlq(conn, {e.event_id: 1}, "invalid: " + "; ".join(str(i) for i in issues), now)
    for e, issues in invalid:
        log.warning(
            "event invalid, moved to the DLQ: " + "; ".join(str(i) for i in issues),
            extra={"tenant_id": e.tenant_id, "event_id": e.event_id, "outcome": "invalid"},
        )


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
    after_send: Callable[[str, list[dict], SendResult], None] | None = None,
    tenant_id: str | None = None,
    enqueue: bool = True,
) -> dict:
    """One dispatch run; returns a summary dict (counts per outcome, breakers, duration).

    ``now`` pins a virtual clock (tests) that the injected ``sleep`` advances; ``after_send`` is
    called after every HTTP response and before anything is recorded (crash injection in tests).
    """
    settings = settings or get_settings()
    options = options or DispatchOptions.from_settings(settings)
    if isinstance(conn_or_url, psycopg.Connection):
        return _run(
            conn_or_url, settings, now, sleep, options, transport, sender, after_send, tenant_id, enqueue
        )
    from trackai import db

    with db.connect(conn_or_url or db.database_url(settings)) as conn:
        return _run(conn, settings, now, sleep, options, transport, sender, after_send, tenant_id, enqueue)


def _run(
    conn: psycopg.Connection,
    settings: Settings,
    now: datetime | float | None,
    sleep: Callable[[float], None],
    options: DispatchOptions,
    transport: httpx.BaseTransport | None,
    sender: Sender | None,
    after_send: Callable[[str, list[dict], SendResult], None] | None,
    tenant_id: str | None,
    do_enqueue: bool,
) -> dict:
    started = time.perf_counter()
    clock = Clock(_as_epoch(now), sleep)
    summary: dict = defaultdict(int)
    if not conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
        return {"skipped": "another dispatch run holds the lock"}
    own_sender = sender is None
    sender = sender or Sender(
        settings.meta_graph_url,
        settings.meta_api_version,
        timeout_seconds=settings.capi.timeout_seconds,
        max_connections=options.concurrency,
        transport=transport,
    )
    executor = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="capi")
    try:
        margin = timedelta(seconds=options.deadline_margin_seconds)
        if do_enqueue:
            summary["enqueued"] = store.enqueue(
                conn, margin=margin, now=store.utc(clock.now()), tenant_id=tenant_id
            )
        blocked = store.blocked_tenants(conn)
        summary["unblocked"] = store.unblock(conn, blocked)
        start_dt = store.utc(clock.now())
        summary["expired"] = store.expire(conn, start_dt)
        due = store.claim_due(
            conn, start_dt, limit=options.claim_limit, skip_tenants=blocked, tenant_id=tenant_id
        )
        summary["claimed"] = len(due)
        valid: dict[tuple[str, str], list[store.QueuedEvent]] = defaultdict(list)
        invalid = []
        now_epoch = clock.now()
        for event in due:
            issues = validate.validate_event(event.payload, now_epoch)
            if issues:
                invalid.append((event, issues))
            else:
                valid[(event.tenant_id, event.pixel_id)].append(event)
        _dlq_invalid(conn, invalid, start_dt)
        summary["invalid"] = len(invalid)

        run = _Run(sender, options, clock, after_send)
        pixel_breakers: dict[tuple[str, str], breakers.Breaker] = {}
        futures = []
        tenant_meta: dict[str, tuple[str | None, str | None]] = {}
        for (tid, pixel), events in valid.items():
            if tid not in tenant_meta:
                row = conn.execute(
                    "SELECT test_event_code FROM core.tenants WHERE tenant_id = %s", (tid,)
                ).fetchone()
                tenant_meta[tid] = (tenants.get_secret(conn, tid, "meta_token"), row[0] if row else None)
            token, test_code = tenant_meta[tid]
            if not token:
                with conn.transaction():
                    store.block_tenant(conn, tid, None, "no meta_token configured", start_dt)
                summary["blocked"] += len(events)
                continue
            breaker = breakers.load(
                conn,
                tid,
                pixel,
                threshold=options.breaker_threshold,
                cooldown_seconds=options.breaker_cooldown_seconds,
            )
            pixel_breakers[(tid, pixel)] = breaker
            decision = breaker.decide(clock.now())
            if decision == "skip":
                summary["skipped_breaker_open"] += len(events)
                continue
            batches = [events[i : i + options.batch_size] for i in range(0, len(events), options.batch_size)]
            if decision == "probe":
                summary["skipped_breaker_open"] += sum(len(b) for b in batches[1:])
                batches = batches[:1]
                summary["probes"] += 1
            for batch in batches:
                futures.append(executor.submit(run.send_batch, tid, pixel, token, test_code, batch, breaker))
        summary["batches"] = len(futures)
        for future in as_completed(futures):
            outcome = future.result()  # an exception here is a crash: nothing of that batch is recorded
            _record(conn, outcome, options, clock, summary)
            breakers.save(conn, pixel_breakers[(outcome.tenant_id, outcome.pixel_id)], clock.now())
        for breaker in pixel_breakers.values():
            breakers.save(conn, breaker, clock.now())
        summary["breakers"] = {
            f"{b.tenant_id}/{b.pixel_id}": b.state
            for b in pixel_breakers.values()
            if b.state != breakers.CLOSED
        }
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if own_sender:
            sender.close()
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    summary["duration_s"] = round(time.perf_counter() - started, 3)
    return dict(summary)
