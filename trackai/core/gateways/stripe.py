"""Stripe: ``Stripe-Signature: t=..,v1=..`` HMAC-SHA256 over ``"{t}." + raw body``; dedupe on event ``id``."""

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
    epoch_seconds,
    minor_to_major,
    session_from_tracking,
    text,
    tracking_params,
)
from trackai.core.pii import hash_email, hash_phone

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# A real header is ``t=`` plus one v1 per active secret (two while rolling) and in test mode a v0, each
# ~68 characters. Anything much longer is not Stripe: refused before any HMAC or comparison (issue 22).
MAX_SIGNATURE_HEADER = 1024
MAX_V1 = 5


def currency_exponent(currency: str | None) -> int:
    code = (currency or "").lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.digest(secret.encode("utf-8"), message, "sha256").hex()  # one-shot: same digest as hmac.new


def parse_header(header: str) -> tuple[int | None, list[str]]:
    """(t, v1 signatures) exactly as stripe-python reads ``Stripe-Signature``
    (``WebhookSignature._get_timestamp_and_signatures``): pairs split on ``,`` then on ``=`` (at most twice,
    the value is the second field), keys compared as they are (``" t"`` is not ``t``: no whitespace
    tolerance), the **first** ``t`` wins and goes through ``int()``. Where stripe-python raises ("Unable to
    extract timestamp and signatures from header") the answer is ``(None, [])``."""
    items = [part.split("=", 2) for part in header.split(",")]
    try:
        # every "t" item is read, as stripe-python does: a bare "t" anywhere refuses the header
        timestamp = int([item[1] for item in items if item[0] == "t"][0])  # noqa: RUF015
        signatures = [item[1] for item in items if item[0] == "v1"]
    except (IndexError, ValueError):
        return None, []
    return timestamp, signatures


def canonical_status(event_type: str, obj: Mapping[str, Any]) -> str:
    if event_type == "checkout.session.completed":
        return {"paid": "approved", "unpaid": "pending"}.get(str(obj.get("payment_status")), "other")
    if event_type == "checkout.session.async_payment_succeeded":
        return "approved"
    if event_type in ("checkout.session.async_payment_failed", "checkout.session.expired"):
        return "canceled"
    if event_type == "payment_intent.succeeded":
        return "approved"
    if event_type in ("payment_intent.payment_failed", "payment_intent.canceled"):
        return "canceled"
    if event_type in ("payment_intent.processing", "payment_intent.requires_action"):
        return "pending"
    if event_type == "charge.refunded":
        return "refunded" if obj.get("refunded") is True else "other"  # partial refund: not a full refund
    if event_type.startswith("charge.dispute.created"):
        return "chargeback"
    return "other"


ORDER_OBJECTS = ("checkout.session", "payment_intent", "charge", "dispute")


class Stripe(Gateway):
    name = "stripe"

    def authenticate(self, body, headers, query, secret, *, now, tolerance=300) -> None:
        header = headers.get("stripe-signature")
        if not header:
            raise AuthError("missing_signature")
        if len(header) > MAX_SIGNATURE_HEADER:
            raise AuthError("signature_header_too_long")
        timestamp, candidates = parse_header(header)
        if timestamp is None:
            raise AuthError("malformed_signature_header")
        if not candidates:
            raise AuthError("no_v1_signature")
        if len(candidates) > MAX_V1:
            raise AuthError("too_many_signatures")
        expected = signature(secret, timestamp, body)
        # Check every v1 (secret rolling); compare all of them so timing does not tell which matched.
        matched = False
        for candidate in candidates:
            matched |= constant_time_equal(candidate, expected)
        if not matched:
            raise AuthError("bad_signature")
        if tolerance and timestamp < now - tolerance:
            raise AuthError("timestamp_outside_tolerance", "timestamp outside the tolerance zone")

    def delivery_key(self, payload):
        event_id = text(payload.get("id"))
        if not event_id:
            raise MappingError("Stripe event has no id")
        return event_id

    def event_type(self, payload):
        return text(payload.get("type"))

    def to_conversion(self, payload) -> Conversion | None:
        event_type = text(payload.get("type")) or ""
        obj = payload.get("data", {}).get("object") if isinstance(payload.get("data"), Mapping) else None
        if not isinstance(obj, Mapping):
            raise MappingError("Stripe event has no data.object")
        kind = text(obj.get("object")) or ""
        if kind not in ORDER_OBJECTS:
            return None  # customers, invoices, ... are recorded but are not orders
        # One order id across session, intent, charge and dispute events: the PaymentIntent when known.
        order_id = text(obj.get("payment_intent")) if kind != "payment_intent" else text(obj.get("id"))
        order_id = order_id or text(obj.get("id"))
        currency = text(obj.get("currency"))
        exponent = currency_exponent(currency)
        if kind == "checkout.session":
            minor = obj.get("amount_total")
        elif kind == "payment_intent":
            minor = obj.get("amount_received") or obj.get("amount")
        elif kind == "charge" and event_type == "charge.refunded":
            minor = obj.get("amount_refunded")
        else:
            minor = obj.get("amount")
        details = obj.get("customer_details") if isinstance(obj.get("customer_details"), Mapping) else {}
        billing = obj.get("billing_details") if isinstance(obj.get("billing_details"), Mapping) else {}
        email = (
            details.get("email")
            or obj.get("customer_email")
            or billing.get("email")
            or obj.get("receipt_email")
        )
        phone = details.get("phone") or billing.get("phone")
        person = details if details.get("name") or details.get("address") else billing
        address = person.get("address") if isinstance(person.get("address"), Mapping) else {}
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
        tracking = tracking_params(metadata, {"client_reference_id": obj.get("client_reference_id")})
        return build_conversion(
            self.name,
            order_id=order_id,
            status=canonical_status(event_type, obj),
            gateway_status=event_type
            + (f":{obj.get('payment_status')}" if kind == "checkout.session" else ""),
            event_time=epoch_seconds(payload.get("created") or obj.get("created")),
            amount=minor_to_major(minor, exponent),
            currency=currency_code(currency),
            product_id=text(metadata.get("product_id")),
            session_id=session_from_tracking(tracking, ("client_reference_id", "session_id", "sck", "src")),
            tracking=tracking,
            fbc=tracking.get("fbc"),
            fbp=tracking.get("fbp"),
            fbclid=tracking.get("fbclid"),
            client_ip=text(metadata.get("client_ip"), 64),
            user_agent=text(metadata.get("user_agent") or metadata.get("client_user_agent"), 1000),
            email_hash=hash_email(email),
            phone_hash=hash_phone(phone),
            customer=buyer_fields(
                full_name=person.get("name"),
                city=address.get("city"),
                state=address.get("state"),
                zip_code=address.get("postal_code"),
                country=address.get("country"),
            ),
            # gateways.md 1.2: every event says livemode; false = test mode (issue 23: never sent to Meta)
            is_test=payload.get("livemode") is False,
        )
