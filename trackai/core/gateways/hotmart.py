"""Hotmart webhook v2.0.0: static "hottok" in ``X-HOTMART-HOTTOK`` (or body ``hottok``); dedupe on ``id``."""

from __future__ import annotations

from collections.abc import Mapping

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
    epoch_millis,
    parse_json_object,
    session_from_tracking,
    text,
    tracking_params,
)
from trackai.core.pii import hash_email, hash_phone

# PURCHASE_COMPLETE (warranty period over) is NOT a new sale: "other", never a second approved row.
STATUS_BY_EVENT = {
    "PURCHASE_APPROVED": "approved",
    "PURCHASE_COMPLETE": "other",
    "PURCHASE_BILLET_PRINTED": "pending",
    "PURCHASE_DELAYED": "pending",
    "PURCHASE_CANCELED": "canceled",
    "PURCHASE_CANCELLED": "canceled",
    "PURCHASE_EXPIRED": "canceled",
    "PURCHASE_REFUNDED": "refunded",
    "PURCHASE_CHARGEBACK": "chargeback",
    "PURCHASE_PROTEST": "other",  # dispute / refund request: still paid until refunded
    "PURCHASE_OUT_OF_SHOPPING_CART": "other",
}
STATUS_BY_PURCHASE_STATUS = {
    "APPROVED": "approved",
    "COMPLETE": "other",
    "WAITING_PAYMENT": "pending",
    "PRINTED_BILLET": "pending",
    "PROCESSING_TRANSACTION": "pending",
    "UNDER_ANALISYS": "pending",
    "UNDER_ANALYSIS": "pending",
    "STARTED": "pending",
    "PRE_ORDER": "pending",
    "OVERDUE": "pending",
    "EXPIRED": "canceled",
    "NO_FUNDS": "canceled",
    "BLOCKED": "canceled",
    "CANCELLED": "canceled",
    "CANCELED": "canceled",
    "REFUNDED": "refunded",
    "PARTIALLY_REFUNDED": "other",
    "CHARGEBACK": "chargeback",
    "DISPUTE": "other",
}


def canonical_status(event: str | None, purchase_status: str | None) -> str:
    if event and event.upper() in STATUS_BY_EVENT:
        return STATUS_BY_EVENT[event.upper()]
    if purchase_status:
        return STATUS_BY_PURCHASE_STATUS.get(purchase_status.upper(), "other")
    return "other"


class Hotmart(Gateway):
    name = "hotmart"

    def authenticate(self, body, headers, query, secret, *, now, tolerance=300) -> None:
        token = headers.get("x-hotmart-hottok")
        if not token:
            try:
                token = parse_json_object(body).get("hottok")
            except MappingError:
                token = None
        if not isinstance(token, str) or not token:
            raise AuthError("missing_token")
        if not constant_time_equal(token, secret):
            raise AuthError("bad_token")

    def delivery_key(self, payload):
        event_id = text(payload.get("id"))
        if not event_id:
            raise MappingError("Hotmart payload has no event id")
        return event_id

    def event_type(self, payload):
        return text(payload.get("event"))

    def to_conversion(self, payload) -> Conversion | None:
        data = payload.get("data")
        if not isinstance(data, Mapping):
            raise MappingError("Hotmart payload has no data object")
        purchase = data.get("purchase")
        if not isinstance(purchase, Mapping) or not purchase.get("transaction"):
            event = text(payload.get("event")) or ""
            if event.startswith("PURCHASE_") and event != "PURCHASE_OUT_OF_SHOPPING_CART":
                raise MappingError("Hotmart purchase event without data.purchase.transaction")
            return None  # club, subscription and cart events are recorded but are not orders
        status = canonical_status(text(payload.get("event")), text(purchase.get("status")))
        tracking = tracking_params(purchase.get("origin"))
        buyer = data.get("buyer") if isinstance(data.get("buyer"), Mapping) else {}
        created = payload.get("creation_date") or payload.get("creationDate")
        if status == "approved" and purchase.get("approved_date"):
            created = purchase.get("approved_date")
        price = purchase.get("price") if isinstance(purchase.get("price"), Mapping) else {}
        phone = text(buyer.get("checkout_phone")) or text(buyer.get("phone"))
        address = buyer.get("address") if isinstance(buyer.get("address"), Mapping) else {}
        return build_conversion(
            self.name,
            order_id=purchase.get("transaction"),
            status=status,
            gateway_status=text(payload.get("event")) or text(purchase.get("status")),
            event_time=epoch_millis(created) if created is not None else None,
            amount=decimal_amount(price.get("value")),
            currency=currency_code(price.get("currency_value")),
            product_id=text(dig(data, "product", "id")),
            session_id=session_from_tracking(tracking, ("xcod", "sck", "src")),
            tracking=tracking,
            email_hash=hash_email(buyer.get("email")),
            phone_hash=hash_phone(phone),
            customer=buyer_fields(
                first_name=buyer.get("first_name"),
                last_name=buyer.get("last_name"),
                full_name=buyer.get("name"),
                city=address.get("city"),
                state=address.get("state"),
                zip_code=address.get("zipcode") or address.get("zip_code"),
                country=address.get("country_iso") or address.get("country"),
            ),
            # gateways.md 2.3: Hotmart's "send test" deliveries carry product id 0 (no real product has it);
            # issue 23: a test delivery never reaches Meta.
            is_test=str(dig(data, "product", "id")) == "0",
        )
