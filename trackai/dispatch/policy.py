"""Dispatch policy: pure decisions (no I/O, no clock of its own). The run loop asks, this module answers.

- ``DispatchOptions``: the knobs (TRACKAI_CAPI_* through ``from_settings``).
- ``prepare``: what a claimed event becomes before sending — invalid optional browser ids (fbc, fbp)
  dropped with a reason (a planted ``fb.1.<ms>.x$y`` must never cost the buyer's purchase its delivery),
  then Meta's contract checked (``trackai.core.capi.validate``): an event still invalid goes to the DLQ.
- ``plan_batches``: what the breaker's decision means for one pixel's events (send all, one probe batch,
  none).
- ``after_response``: what to do with one HTTP outcome of one batch — done, bisect, reject one event,
  stop the tenant, back off then retry, or give up for this run.
- ``attempt_status``: the ops.dispatch_attempts status of an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from trackai.core.capi import validate
from trackai.core.capi.errors import ErrorClass, GraphError
from trackai.core.capi.payload import drop_invalid_browser_ids
from trackai.settings import Settings, get_settings


@dataclass(frozen=True)
class DispatchOptions:
    batch_size: int = 1000
    concurrency: int = 4
    backoff_seconds: tuple[float, ...] = (1, 2, 4, 8, 16)
    retry_later_seconds: float = 300.0
    breaker_threshold: int = 10
    breaker_cooldown_seconds: float = 60.0
    deadline_margin_seconds: float = 3600.0
    claim_limit: int = 200_000

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= validate.MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"batch_size must be between 1 and {validate.MAX_EVENTS_PER_REQUEST}")

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
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Prepared:
    """One claimed event made ready: the payload to send, what was dropped from it, what is still wrong."""

    payload: dict
    dropped: tuple[str, ...] = ()
    issues: tuple[validate.Issue, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.issues


def prepare(payload: dict, now: float) -> Prepared:
    """Drop invalid optional browser ids (with reasons), then validate what is left."""
    cleaned, dropped = drop_invalid_browser_ids(payload)
    return Prepared(cleaned, tuple(dropped), tuple(validate.validate_event(cleaned, now)))


@dataclass(frozen=True)
class BatchPlan:
    batches: list[list] = field(default_factory=list)
    skipped: int = 0  # events left pending for a later run (breaker open, or behind the probe)
    probe: bool = False


def plan_batches(events: Sequence, decision: str, batch_size: int) -> BatchPlan:
    """``decision`` is the breaker's (``send``, ``probe`` or ``skip``)."""
    if decision == "skip":
        return BatchPlan(skipped=len(events))
    batches = [list(events[i : i + batch_size]) for i in range(0, len(events), batch_size)]
    if decision == "probe":
        return BatchPlan(batches[:1], sum(len(b) for b in batches[1:]), probe=True)
    return BatchPlan(batches)


class Step(Enum):
    DONE = "done"  # 2xx: every event of the batch is sent
    REJECT = "reject"  # Meta refused the one event of this batch: DLQ
    BISECT = "bisect"  # Meta refused an event of a larger batch: split and send both halves
    STOP_TENANT = "stop_tenant"  # token or permission error: block the tenant, raise the token alarm
    RETRY = "retry"  # retryable: sleep ``delay`` then try again
    GIVE_UP = "give_up"  # retryable but out of tries, breaker open or deadline near: stay pending


@dataclass(frozen=True)
class Decision:
    step: Step
    delay: float = 0.0


def after_response(
    error: GraphError,
    *,
    batch_len: int,
    attempt_index: int,
    backoff_seconds: Sequence[float],
    now: float,
    deadline: float,
    breaker_open: bool,
) -> Decision:
    """The next step after one response (``attempt_index`` counts from 0; ``breaker_open`` is the pixel's
    breaker after this response's failure was counted)."""
    if error.error_class is ErrorClass.OK:
        return Decision(Step.DONE)
    if error.error_class is ErrorClass.BAD_EVENT:
        return Decision(Step.REJECT if batch_len == 1 else Step.BISECT)
    if error.error_class in (ErrorClass.AUTH, ErrorClass.PERMISSION):
        return Decision(Step.STOP_TENANT)
    if attempt_index >= len(backoff_seconds) or breaker_open:
        return Decision(Step.GIVE_UP)
    delay = backoff_seconds[attempt_index]
    if now + delay >= deadline:  # retries stop before the cutoff; a later run expires the event
        return Decision(Step.GIVE_UP)
    return Decision(Step.RETRY, delay=delay)


def attempt_status(error: GraphError) -> str:
    return {
        ErrorClass.OK: "success",
        ErrorClass.RETRYABLE: "retryable_error",
        ErrorClass.BAD_EVENT: "fatal_error",
        ErrorClass.AUTH: "blocked",
        ErrorClass.PERMISSION: "blocked",
    }[error.error_class]
