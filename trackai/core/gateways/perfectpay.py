"""Perfect Pay: static 32-char ``token`` in the JSON body; one postback per status change of a sale."""

from __future__ import annotations

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
    decimal_amount,
    dig,
    local_naive_time,
    parse_json_object,
    session_from_tracking,
    text,
    tracking_params,
)
from trackai.core.pii import hash_email, hash_phone

# sale_status_enum -> canonical status. 10 "completed" (30 days after approval) is NOT a new sale:
# it maps to "other" so no second approved conversion is created for the order.
STATUS_BY_CODE = {
    0: "other",  # none
    1: "pending",  # boleto pending
    2: "approved",
    3: "pending",  # in_process
    4: "other",  # in_mediation (still paid, under moderation)
    5: "canceled",  # rejected
    6: "canceled",  # cancelled
    7: "refunded",
    8: "approved",  # authorized
    9: "chargeback",  # charged_back
    10: "other",  # completed: warranty over, not a new sale
    11: "canceled",  # checkout_error
    12: "other",  # precheckout (abandonment)
    13: "canceled",  # expired
    15: "canceled",  # cancelled_regenerated [SINGLE]
    16: "pending",  # in_review
    17: "chargeback",  # pre_chargeback [SINGLE]
    18: "refunded",  # pre_refunded [SINGLE]
    19: "refunded",  # med [SINGLE]
    20: "other",  # pre_med [SINGLE]
}
CODE_BY_KEY = {
    "none": 0,
    "pending": 1,
    "approved": 2,
    "in_process": 3,
    "in_mediation": 4,
    "rejected": 5,
    "cancelled": 6,
    "canceled": 6,
    "refunded": 7,
    "authorized": 8,
    "charged_back": 9,
    "completed": 10,
    "checkout_error": 11,
    "precheckout": 12,
    "expired": 13,
    "cancelled_regenerated": 15,
    "in_review": 16,
    "pre_chargeback": 17,
    "pre_refunded": 18,
    "med": 19,
    "pre_med": 20,
}
CURRENCY_BY_ENUM = {1: "BRL", 2: "USD", 3: "EUR"}


def status_code(payload: Mapping[str, Any]) -> int | None:
    raw = payload.get("sale_status_enum")
    try:
        if raw is not None and not isinstance(raw, bool):
            return int(str(raw))
    except ValueError:
        pass
    key = text(payload.get("sale_status_enum_key"))
    return CODE_BY_KEY.get(key.lower()) if key else None


def canonical_status(code: int | None) -> str:
    return STATUS_BY_CODE.get(code, "other") if code is not None else "other"


class PerfectPay(Gateway):
    name = "perfectpay"

    def authenticate(self, body, headers, query, secret, *, now, tolerance=300) -> None:
        try:
            token = parse_json_object(body, numbers_as_text=True).get("token")
        except MappingError as exc:
            raise AuthError("malformed_body") from exc
        if not isinstance(token, str) or not token:
            raise AuthError("missing_token")
        if not constant_time_equal(token, secret):
            raise AuthError("bad_token")

    def delivery_key(self, payload):
        code = text(payload.get("code"))
        status = status_code(payload)
        if not code:
            raise MappingError("Perfect Pay payload has no sale code")
        return f"{code}:{status if status is not None else 'unknown'}"

    def event_type(self, payload):
        code = status_code(payload)
        return f"sale_status_{code}" if code is not None else None

    def to_conversion(self, payload) -> Conversion:
        code = status_code(payload)
        customer = payload.get("customer") if isinstance(payload.get("customer"), Mapping) else {}
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), Mapping) else {}
        tracking = tracking_params(metadata)
        currency = text(payload.get("currency_enum_key"))
        enum = payload.get("currency_enum")
        if not currency and enum is not None and str(enum).isdigit():
            currency = CURRENCY_BY_ENUM.get(int(str(enum)))
        phone = None
        if customer.get("phone_number"):
            ddi = text(customer.get("phone_extension")) or "55"
            phone = f"+{ddi}{text(customer.get('phone_area_code')) or ''}{text(customer.get('phone_number'))}"
        when = local_naive_time(payload.get("date_approved")) if code in (2, 8) else None
        when = when or local_naive_time(payload.get("date_created"))
        return build_conversion(
            self.name,
            order_id=payload.get("code"),
            status=canonical_status(code),
            gateway_status=text(payload.get("sale_status_enum_key"))
            or (str(code) if code is not None else None),
            event_time=when,
            amount=decimal_amount(payload.get("sale_amount")),
            currency=currency_code(currency),
            product_id=text(dig(payload, "product", "code")),
            session_id=session_from_tracking(tracking, ("src", "sck", "utm_perfect")),
            tracking=tracking,
            fbc=tracking.get("fbc"),
            fbp=tracking.get("fbp"),
            fbclid=tracking.get("fbclid"),
            client_ip=text(customer.get("ip"), 64),
            user_agent=text(customer.get("user_agent"), 1000),
            email_hash=hash_email(customer.get("email")),
            phone_hash=hash_phone(phone),
            customer=buyer_fields(
                full_name=customer.get("full_name"),
                city=customer.get("city"),
                state=customer.get("state"),
                zip_code=customer.get("zip_code"),
                country=customer.get("country"),
                birth_date=customer.get("birthday"),
            ),
        )
