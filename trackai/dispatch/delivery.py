"""Sending one batch to the Graph API with retries and bisection; the outcome is returned, never recorded here.

``Deliverer.send_batch`` is what the run loop submits to its thread pool (and bench P3 calls directly). Each
response is handed to ``policy.after_response``, which says what comes next. Thread-safe: the set of
tenants stopped by a token error is shared by every batch of the run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from trackai.core.capi.errors import ErrorClass, GraphError
from trackai.dispatch import policy
from trackai.dispatch.breaker import Breaker
from trackai.dispatch.policy import DispatchOptions, Step
from trackai.dispatch.sender import Sender, SendResult
from trackai.dispatch.store import QueuedEvent

AfterSend = Callable[[str, list[dict], SendResult], None]


class Clock:
    """Wall clock, or a virtual one (``start`` given) advanced by the injected sleeps."""

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
    events: list[QueuedEvent]
    batch_id: str
    attempts: list[Attempt] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)
    rejected: dict[str, GraphError] = field(default_factory=dict)
    retry: dict[str, GraphError] = field(default_factory=dict)
    blocked: dict[str, GraphError] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    stop_error: GraphError | None = None
    is_test: bool = False  # sent with a test_event_code: its attempts are marked is_test (C1)


@dataclass(frozen=True)
class Destination:
    """Where a tenant's events go: its pixel, token and optional test_event_code."""

    tenant_id: str
    pixel_id: str
    token: str
    test_event_code: str | None = None


class Deliverer:
    def __init__(
        self, sender: Sender, options: DispatchOptions, clock: Clock, after_send: AfterSend | None = None
    ) -> None:
        self.sender = sender
        self.options = options
        self.clock = clock
        self.after_send = after_send
        self.stopped: set[str] = set()
        self._lock = threading.Lock()

    def send_batch(self, to: Destination, events: list[QueuedEvent], breaker: Breaker) -> BatchOutcome:
        outcome = BatchOutcome(to.tenant_id, to.pixel_id, events, str(uuid.uuid4()))
        outcome.is_test = bool(to.test_event_code)
        self._deliver(outcome, to, events, breaker)
        return outcome

    def _stopped(self, tenant_id: str) -> bool:
        with self._lock:
            return tenant_id in self.stopped

    def _deliver(
        self, outcome: BatchOutcome, to: Destination, events: list[QueuedEvent], breaker: Breaker
    ) -> None:
        ids = [e.event_id for e in events]
        payloads = [e.payload for e in events]
        deadline = min(e.deadline_at for e in events)
        last: GraphError | None = None
        for attempt_index in range(len(self.options.backoff_seconds) + 1):
            if self._stopped(to.tenant_id) or not breaker.allows() or self.clock.now() >= deadline:
                break
            result = self.sender.send(to.pixel_id, to.token, payloads, to.test_event_code)
            if self.after_send is not None:
                self.after_send(to.pixel_id, payloads, result)
            outcome.attempts.append(Attempt(ids, result, self.clock.now()))
            error = result.error
            if error.error_class is ErrorClass.OK:
                breaker.success()
            elif error.error_class is ErrorClass.RETRYABLE:
                breaker.failure(self.clock.now())
                last = error
            decision = policy.after_response(
                error,
                batch_len=len(events),
                attempt_index=attempt_index,
                backoff_seconds=self.options.backoff_seconds,
                now=self.clock.now(),
                deadline=deadline,
                breaker_open=not breaker.allows(),
            )
            if decision.step is Step.DONE:
                outcome.sent.update(ids)
                return
            if decision.step is Step.REJECT:
                outcome.rejected[ids[0]] = error
                return
            if decision.step is Step.BISECT:
                middle = len(events) // 2
                self._deliver(outcome, to, events[:middle], breaker)
                self._deliver(outcome, to, events[middle:], breaker)
                return
            if decision.step is Step.STOP_TENANT:
                with self._lock:
                    self.stopped.add(to.tenant_id)
                outcome.stop_error = error
                outcome.blocked.update(dict.fromkeys(ids, error))
                return
            if decision.step is Step.GIVE_UP:
                break
            self.clock.sleep(decision.delay)
        if last is None:  # never attempted (breaker open, tenant stopped, deadline): the row stays as it is
            outcome.skipped.update(ids)
            return
        outcome.retry.update(dict.fromkeys(ids, last))
