"""What a batch outcome or an invalid event changes in the database, as pure rows (``store.Changes``).

The run loop hands the result to ``store.apply`` — one call, one transaction — so a crash between the HTTP
response and the record leaves the events 'pending' and the next run re-sends the same event_ids.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from trackai.core.capi import validate
from trackai.core.capi.errors import ErrorClass
from trackai.dispatch import policy
from trackai.dispatch.delivery import BatchOutcome
from trackai.dispatch.store import AttemptRow, Changes, DlqRow, QueuedEvent, utc


def outcome_changes(outcome: BatchOutcome, *, now: float, retry_later_seconds: float) -> Changes:
    """Attempts rows, queue states, DLQ rows and tenant block of one delivered (or not) batch."""
    by_id = {e.event_id: e for e in outcome.events}
    tries: Counter[str] = Counter()
    attempts: list[AttemptRow] = []
    for attempt in outcome.attempts:
        error = attempt.result.error
        for event_id in attempt.event_ids:
            event = by_id[event_id]
            tries[event_id] += 1
            attempts.append(
                AttemptRow(
                    outcome.tenant_id,
                    event_id,
                    event.gateway,
                    outcome.pixel_id,
                    outcome.batch_id,
                    event.attempts + tries[event_id],
                    policy.attempt_status(error),
                    error.http_status,
                    error.code,
                    error.subcode,
                    None if error.error_class is ErrorClass.OK else error.describe(),
                    attempt.result.latency_ms,
                    error.fbtrace_id,
                    attempt.at,
                    is_test=outcome.is_test,
                )
            )
    changes = Changes(now=utc(now), attempts=attempts)
    changes.sent = {i: tries[i] for i in outcome.sent}
    if outcome.sent:
        changes.token_ok_tenant = outcome.tenant_id
    changes.dlq = [
        (
            DlqRow(
                i,
                outcome.tenant_id,
                by_id[i].gateway,
                "meta_rejected",
                e.code,
                e.subcode,
                e.user_title,
                e.user_msg or e.message,
                by_id[i].payload,
            ),
            tries[i],
            e.describe(),
        )
        for i, e in outcome.rejected.items()
    ]
    if outcome.retry:
        changes.retry = {i: tries[i] for i in outcome.retry}
        changes.retry_error = next(iter(outcome.retry.values())).describe()
        changes.retry_at = utc(now + retry_later_seconds)
    if outcome.stop_error is not None:
        changes.blocked = {i: tries[i] for i in outcome.blocked}
        changes.block_tenant = (outcome.tenant_id, outcome.stop_error.code, outcome.stop_error.describe())
    return changes


def invalid_changes(invalid: list[tuple[QueuedEvent, tuple[validate.Issue, ...]]], now: datetime) -> Changes:
    """Events that fail Meta's contract even after optional fields were dropped: DLQ, never in a batch."""
    changes = Changes(now=now)
    for event, issues in invalid:
        described = "; ".join(str(i) for i in issues)
        changes.attempts.append(
            AttemptRow(
                event.tenant_id,
                event.event_id,
                event.gateway,
                event.pixel_id,
                None,
                event.attempts + 1,
                "invalid",
                message=described,
            )
        )
        row = DlqRow(
            event.event_id,
            event.tenant_id,
            event.gateway,
            "invalid",
            None,
            issues[0].subcode,
            issues[0].title,
            "; ".join(i.message for i in issues),
            event.payload,
        )
        changes.dlq.append((row, 1, "invalid: " + described))
    return changes
