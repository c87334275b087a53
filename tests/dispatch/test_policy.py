"""Dispatch policy as pure decisions: no database, no HTTP."""

from __future__ import annotations

import pytest

from trackai.core.capi.errors import ErrorClass, GraphError
from trackai.core.capi.payload import build_purchase_event
from trackai.dispatch import policy
from trackai.dispatch.policy import DispatchOptions, Step

BACKOFF = (1, 2, 4)


def decide(error_class, *, batch_len=10, attempt=0, now=0.0, deadline=1e9, breaker_open=False):
    return policy.after_response(
        GraphError(error_class),
        batch_len=batch_len,
        attempt_index=attempt,
        backoff_seconds=BACKOFF,
        now=now,
        deadline=deadline,
        breaker_open=breaker_open,
    )


def test_after_response_steps():
    assert decide(ErrorClass.OK).step is Step.DONE
    assert decide(ErrorClass.BAD_EVENT).step is Step.BISECT
    assert decide(ErrorClass.BAD_EVENT, batch_len=1).step is Step.REJECT
    assert decide(ErrorClass.AUTH).step is decide(ErrorClass.PERMISSION).step is Step.STOP_TENANT
    assert decide(ErrorClass.RETRYABLE, attempt=1) == policy.Decision(Step.RETRY, delay=2)
    assert decide(ErrorClass.RETRYABLE, attempt=3).step is Step.GIVE_UP  # out of tries
    assert decide(ErrorClass.RETRYABLE, breaker_open=True).step is Step.GIVE_UP
    assert decide(ErrorClass.RETRYABLE, now=100, deadline=100.5).step is Step.GIVE_UP  # never past the cutoff


def test_plan_batches_follows_the_breaker():
    events = list(range(25))
    assert [len(b) for b in policy.plan_batches(events, "send", 10).batches] == [10, 10, 5]
    probe = policy.plan_batches(events, "probe", 10)
    assert [len(b) for b in probe.batches] == [10] and probe.skipped == 15 and probe.probe
    assert policy.plan_batches(events, "skip", 10) == policy.BatchPlan(skipped=25)


def test_options_refuse_a_batch_larger_than_meta_allows():
    with pytest.raises(ValueError):
        DispatchOptions(batch_size=1001)


PURCHASE = {
    "event_id": "e" * 64,
    "order_id": "o1",
    "approved_at": 1_767_225_600,
    "amount": 97,
    "currency": "brl",
    "email_hash": "a" * 64,
}
MATCH = {
    "fbc": "fb.1.1767220000000.IwAR_click",
    "fbp": "fb.1.1767219000000.111",
    "client_ip": "203.0.113.7",
    "user_agent": "UA",
    "landing_url": "https://shop.example/lp",
}


def test_the_gateways_fbc_and_fbp_win_over_the_clicks():
    own = {**PURCHASE, "fbc": "fb.1.1767210000000.IwAR_gateway", "fbp": "fb.1.1767210000000.222"}
    ud = build_purchase_event(own, MATCH)["user_data"]
    assert (ud["fbc"], ud["fbp"]) == (own["fbc"], own["fbp"])
    assert ud["client_ip_address"] == MATCH["client_ip"]  # the browser context stays the click's
    ud = build_purchase_event({**PURCHASE, "fbc": "fb.1.1767210000000.x$y"}, MATCH)["user_data"]
    assert ud["fbc"] == MATCH["fbc"]  # a malformed gateway fbc does not hide a well-formed click one


def test_prepare_drops_malformed_browser_ids_with_reasons_and_keeps_the_rest():
    event = build_purchase_event(PURCHASE, {**MATCH, "fbc": "fb.1.1767220000000.x$y", "fbp": "nope"})
    prepared = policy.prepare(event, now=1_767_225_700)
    assert prepared.valid and prepared.dropped == ("fbc: malformed, not sent", "fbp: malformed, not sent")
    assert (
        "fbc" not in prepared.payload["user_data"] and "fbc" in event["user_data"]
    )  # the input is not mutated
    assert prepared.payload["user_data"]["em"] == ["a" * 64]
    clean = build_purchase_event(PURCHASE, MATCH)
    assert policy.prepare(clean, now=1_767_225_700) == policy.Prepared(clean)
