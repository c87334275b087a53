"""What the setup page tells a seller to enable in each gateway: the webhook events whose status the
adapters map to something we act on (anything but "other"), read from the adapters themselves so the page
follows them. Stripe's adapter decides by event type in code, so its list is written here and
tests/console/test_units.py checks each type against ``stripe.canonical_status``. Perfect Pay sends every
status change to one URL (nothing to choose)."""

from __future__ import annotations

from trackai.core.gateways import hotmart, kiwify

STRIPE_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
)


def events_to_enable() -> dict[str, list[str]]:
    return {
        "perfectpay": [],
        "hotmart": [event for event, status in hotmart.STATUS_BY_EVENT.items() if status != "other"],
        "kiwify": [event for event, status in kiwify.STATUS_BY_EVENT.items() if status != "other"],
        "stripe": list(STRIPE_EVENTS),
    }
