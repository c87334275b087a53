"""Dispatch's JSON log lines: one per recorded batch, one per event that needs a human (DLQ, retry, blocked,
invalid), one per optional field dropped from a payload; per sent event only at DEBUG."""

from __future__ import annotations

import logging

from trackai.core.capi import validate
from trackai.dispatch.delivery import BatchOutcome
from trackai.dispatch.store import QueuedEvent

log = logging.getLogger("trackai.dispatch")


def log_outcome(outcome: BatchOutcome) -> None:
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


def log_invalid(invalid: list[tuple[QueuedEvent, tuple[validate.Issue, ...]]]) -> None:
    for event, issues in invalid:
        log.warning(
            "event invalid, moved to the DLQ: " + "; ".join(str(i) for i in issues),
            extra={"tenant_id": event.tenant_id, "event_id": event.event_id, "outcome": "invalid"},
        )


def log_dropped(event: QueuedEvent, reasons: tuple[str, ...]) -> None:
    log.warning(
        "optional field dropped from the payload: " + "; ".join(reasons),
        extra={"tenant_id": event.tenant_id, "event_id": event.event_id, "outcome": "dropped"},
    )
