"""Kiwify sales webhooks: ``?signature=`` = hex HMAC-SHA1 of the raw body keyed with the webhook token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from trackai.core.gateways.base import (
    AuthError,
    Conversion,
    Gateway,
    MappingError,
    build_conversion,
    buyer_fields,
    constant_time_equal,
    currency_code,
    dig,
    local_naive_time,
    minor_to_major,
    parse_json_object,
    session_from_tracking,
    text,
    tracking_params,
)
from trackai.core.pii import hash_email, hash_phone

STATUS_BY_EVENT = {
    "order_approved": "approved",
    "subscription_renewed": "approved",  # same order_id as its order_approved; downstream keys on order
    "billet_created": "pending",
    "pix_created": "pending",
    "order_rejected": "canceled",
    "order_refunded": "refunded",
    "chargeback": "chargeback",
    "subscription_late": "other",
    "subscription_canceled": "other",
}
STATUS_BY_ORDER_STATUS = {
    "paid": "approved",
    "waiting_payment": "pending",
    "refused": "canceled",
    "refunded": "refunded",
    "chargedback": "chargeback",
}


def signature(body: bytes, token: str) -> str:
    return hmac.digest(token.encode("utf-8"), body, "sha1").hex()  # one-shot: same digest as hmac.new


def canonical_status(event: str | None, order_status: str | None) -> str:
    if event and event.lower() in STATUS_BY_EVENT:
        return STATUS_BY_EVENT[event.lower()]
    if order_status:
        return STATUS_BY_ORDER_STATUS.get(order_status.lower(), "other")
    return "other"


def unwrap(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """Some integrations report ``{"order": {...}}``; the signature still covers the raw body."""
    inner = payload.get("order")
    if isinstance(inner, Mapping) and "order_id" in inner and "order_id" not in payload:
        return inner
    return payload


class Kiwify(Gateway):
    name = "kiwify"

    def authenticate(self, body, headers, query, secret, *, now, tolerance=300) -> None:
        given = query.get("signature")
        if not given:
            raise AuthError("missing_signature")
        if not constant_time_equal(given.strip().lower(), signature(body, secret)):
            raise AuthError("bad_signature")

    def parse(self, body: bytes) -> dict[str, Any]:
        return dict(unwrap(parse_json_object(body)))

    def delivery_key(self, payload):
        order_id = text(payload.get("order_id"))
        if not order_id:
            raise MappingError("Kiwify payload has no order_id")
        return (
            f"{order_id}:{text(payload.get('webhook_event_type')) or text(payload.get('order_status')) or ''}"
        )

    def event_type(self, payload):
        return text(payload.get("webhook_event_type"))

    def to_conversion(self, payload) -> Conversion:
        event = text(payload.get("webhook_event_type"))
        status = canonical_status(event, text(payload.get("order_status")))
        tracking = tracking_params(payload.get("TrackingParameters"))
        customer = payload.get("Customer") if isinstance(payload.get("Customer"), Mapping) else {}
        commissions = payload.get("Commissions") if isinstance(payload.get("Commissions"), Mapping) else {}
        when = None
        if status == "approved":
            when = local_naive_time(payload.get("approved_date"))
        elif status == "refunded":
            when = local_naive_time(payload.get("refunded_at"))
        when = (
            when or local_naive_time(payload.get("updated_at")) or local_naive_time(payload.get("created_at"))
        )
        return build_conversion(
            self.name,
            order_id=payload.get("order_id"),
            status=status,
            gateway_status=event or text(payload.get("order_status")),
            event_time=when,
            amount=minor_to_major(commissions.get("charge_amount"), 2),
            currency=currency_code(commissions.get("currency")),
            product_id=text(dig(payload, "Product", "product_id")),
            session_id=session_from_tracking(tracking, ("sck", "src", "s1")),
            tracking=tracking,
            fbc=tracking.get("fbc"),
            fbp=tracking.get("fbp"),
            fbclid=tracking.get("fbclid"),
            client_ip=text(customer.get("ip"), 64),
            email_hash=hash_email(customer.get("email")),
            phone_hash=hash_phone(customer.get("mobile")),
            customer=buyer_fields(
                first_name=customer.get("first_name"),
                full_name=customer.get("full_name"),
                city=customer.get("city"),
                state=customer.get("state"),
                zip_code=customer.get("zipcode"),
                country=customer.get("country"),
            ),
        )
