"""Realistic webhook bodies with each gateway's real field names and invented values.

``build_payload(gateway, order_id=..., status='approved', ...)`` -> dict, ready for ``json.dumps`` and
``signing.sign_request``. ``status`` is a canonical status (approved, pending, refunded, chargeback,
canceled) or the gateway's own value (e.g. ``PURCHASE_COMPLETE``, ``10``, ``order_approved``).
The session id goes where the tracking snippet puts it (docs/tracking.md). The buyer's name, address
and birth date sit in each gateway's own fields (``BUYER`` by default; gateways.md): Hotmart
``buyer.first_name/last_name/address`` (country and zipcode only, as in its captures), Kiwify
``Customer.full_name/city/state/zipcode``, Perfect Pay ``customer.full_name/zip_code/city/state/country/
birthday``, Stripe ``customer_details.name/address`` (``billing_details`` on charges).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trackai.core.gateways.base import GATEWAY_LOCAL_TZ
from trackai.core.gateways.stripe import currency_exponent

# The sample buyer (invented). Tests assert none of these reach the database in plaintext.
BUYER = {
    "first_name": "Comprador",
    "last_name": "Teste",
    "city": "São Paulo",
    "state": "SP",
    "zip_code": "01310-100",
    "country": "BR",
    "birthday": "1990-01-31",
}

_HOTMART_EVENTS = {
    "approved": ("PURCHASE_APPROVED", "APPROVED"),
    "pending": ("PURCHASE_BILLET_PRINTED", "PRINTED_BILLET"),
    "refunded": ("PURCHASE_REFUNDED", "REFUNDED"),
    "chargeback": ("PURCHASE_CHARGEBACK", "CHARGEBACK"),
    "canceled": ("PURCHASE_CANCELED", "CANCELED"),
    "PURCHASE_COMPLETE": ("PURCHASE_COMPLETE", "COMPLETE"),
}
_KIWIFY_EVENTS = {
    "approved": ("order_approved", "paid"),
    "pending": ("pix_created", "waiting_payment"),
    "refunded": ("order_refunded", "refunded"),
    "chargeback": ("chargeback", "chargedback"),
    "canceled": ("order_rejected", "refused"),
}
_PERFECTPAY_CODES = {
    "approved": (2, "approved"),
    "pending": (1, "pending"),
    "refunded": (7, "refunded"),
    "chargeback": (9, "charged_back"),
    "canceled": (6, "cancelled"),
    "completed": (10, "completed"),
}
_STRIPE_EVENTS = {
    "approved": "checkout.session.completed",
    "pending": "checkout.session.completed",
    "canceled": "checkout.session.expired",
    "refunded": "charge.refunded",
    "chargeback": "charge.dispute.created",
}


def _digits(order_id: str) -> str:
    return "".join(ch for ch in order_id.upper() if ch.isalnum())[:20] or "0"


def build_payload(
    gateway: str,
    *,
    order_id: str,
    status: str = "approved",
    email: str | None = None,
    phone: str | None = None,
    session_id: str | None = None,
    amount: Decimal = Decimal("197.00"),
    currency: str = "BRL",
    event_time: datetime | None = None,
    product_id: str | None = None,
    fbp: str | None = None,
    fbc: str | None = None,
    client_ip: str | None = None,
    event_uid: str | None = None,
) -> dict[str, Any]:
    when = (event_time or datetime.now(UTC)).astimezone(UTC)
    amount = Decimal(amount)
    if gateway == "hotmart":
        return _hotmart(
            order_id, status, email, phone, session_id, amount, currency, when, product_id, event_uid
        )
    if gateway == "kiwify":
        return _kiwify(
            order_id,
            status,
            email,
            phone,
            session_id,
            amount,
            currency,
            when,
            product_id,
            client_ip,
            fbp,
            fbc,
        )
    if gateway == "perfectpay":
        return _perfectpay(
            order_id,
            status,
            email,
            phone,
            session_id,
            amount,
            currency,
            when,
            product_id,
            client_ip,
            fbp,
            fbc,
        )
    if gateway == "stripe":
        return _stripe(
            order_id,
            status,
            email,
            phone,
            session_id,
            amount,
            currency,
            when,
            product_id,
            client_ip,
            fbp,
            fbc,
            event_uid,
        )
    raise ValueError(f"unknown gateway {gateway!r}")


def _hotmart(order_id, status, email, phone, session_id, amount, currency, when, product_id, event_uid):
    event, purchase_status = _HOTMART_EVENTS.get(status, (status, status))
    ms = int(when.timestamp() * 1000)
    origin: dict[str, str] = {"sck": "HOTMART_PRODUCT_PAGE"}
    if session_id:
        origin = {"src": session_id, "sck": session_id, "xcod": session_id}
    buyer: dict[str, Any] = {
        "email": email or "",
        "name": "Comprador Teste",
        "first_name": "Comprador",
        "last_name": "Teste",
        "address": {"country": "Brasil", "country_iso": "BR", "zipcode": BUYER["zip_code"].replace("-", "")},
        "document": "12345678901",
        "document_type": "CPF",
    }
    if phone:
        buyer["checkout_phone"] = phone
    return {
        "id": event_uid or str(uuid.uuid4()),
        "creation_date": ms,
        "event": event,
        "version": "2.0.0",
        "data": {
            "product": {
                "id": int(product_id) if product_id and product_id.isdigit() else 5123456,
                "ucode": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hotmart:{product_id}")),
                "name": "Curso de Exemplo",
                "has_co_production": False,
                "is_physical_product": False,
            },
            "affiliates": [{"affiliate_code": "", "name": ""}],
            "buyer": buyer,
            "producer": {"name": "Produtora Exemplo LTDA", "legal_nature": "Pessoa Jurídica"},
            "commissions": [
                {
                    "value": float(amount * Decimal("0.1")),
                    "source": "MARKETPLACE",
                    "currency_value": currency,
                },
                {"value": float(amount * Decimal("0.9")), "source": "PRODUCER", "currency_value": currency},
            ],
            "purchase": {
                "transaction": order_id,
                "status": purchase_status,
                "order_date": ms - 10_000,
                "approved_date": ms,
                "price": {"value": _json_number(amount), "currency_value": currency},
                "full_price": {"value": _json_number(amount), "currency_value": currency},
                "original_offer_price": {"value": _json_number(amount), "currency_value": currency},
                "checkout_country": {"name": "Brasil", "iso": "BR"},
                "payment": {"type": "PIX", "installments_number": 1},
                "offer": {"code": "a8wswzvg"},
                "order_bump": {"is_order_bump": False},
                "origin": origin,
                "invoice_by": "HOTMART",
                "is_funnel": False,
                "business_model": "I",
            },
        },
    }


def _kiwify(
    order_id, status, email, phone, session_id, amount, currency, when, product_id, client_ip, fbp, fbc
):
    event, order_status = _KIWIFY_EVENTS.get(status, (status, "paid"))
    local = when.astimezone(GATEWAY_LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    cents = int((amount * 100).to_integral_value())
    tracking: dict[str, Any] = {
        "src": None,
        "sck": session_id,
        "utm_source": "facebook",
        "utm_medium": "cpc",
        "utm_campaign": "campanha-exemplo",
        "utm_content": "anuncio-1",
        "utm_term": None,
        "s1": None,
        "s2": None,
        "s3": None,
    }
    return {
        "order_id": order_id,
        "order_ref": _digits(order_id)[:7],
        "order_status": order_status,
        "webhook_event_type": event,
        "product_type": "membership",
        "payment_method": "credit_card",
        "store_id": "rff19QIYNJNgsEA",
        "payment_merchant_id": 41868167,
        "installments": 1,
        "card_type": "mastercard",
        "card_last4digits": "7600",
        "card_rejection_reason": None,
        "boleto_URL": None,
        "boleto_barcode": None,
        "boleto_expiry_date": None,
        "pix_code": None,
        "pix_expiration": None,
        "sale_type": "producer",
        "created_at": local,
        "updated_at": local,
        "approved_date": local if status == "approved" else None,
        "refunded_at": local if status == "refunded" else None,
        "Product": {
            "product_id": product_id or "845f2fff-61de-4aee-a201-d502e2f5ca94",
            "product_name": "Curso X",
        },
        "Customer": {
            "full_name": "Comprador Teste",
            "first_name": "Comprador",
            "email": email or "",
            "mobile": phone or "",
            "CPF": "12345678901",
            "ip": client_ip or "",
            "instagram": "",
            "street": "Rua Exemplo",
            "number": "100",
            "complement": "",
            "neighborhood": "Centro",
            "city": BUYER["city"],
            "state": BUYER["state"],
            "zipcode": BUYER["zip_code"],
        },
        "Commissions": {
            "charge_amount": cents,
            "currency": currency,
            "product_base_price": cents,
            "product_base_price_currency": currency,
            "kiwify_fee": cents // 10,
            "kiwify_fee_currency": currency,
            "settlement_amount": cents,
            "settlement_amount_currency": currency,
            "sale_tax_rate": 0,
            "sale_tax_amount": 0,
            "commissioned_stores": [],
            "my_commission": cents - cents // 10,
            "funds_status": None,
            "estimated_deposit_date": None,
            "deposit_date": None,
        },
        "TrackingParameters": tracking,
        "subscription_id": None,
        "access_url": None,
    }


def _perfectpay(
    order_id, status, email, phone, session_id, amount, currency, when, product_id, client_ip, fbp, fbc
):
    code, key = _PERFECTPAY_CODES.get(status, (int(status) if str(status).isdigit() else 0, str(status)))
    local = when.astimezone(GATEWAY_LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    metadata: dict[str, Any] = {
        "src": session_id,
        "sck": None,
        "utm_source": "facebook",
        "utm_medium": "cpc",
        "utm_campaign": "campanha-exemplo",
        "utm_term": None,
        "utm_content": "anuncio-1",
        "utm_perfect": None,
        "_fbp": fbp,
        "ttclid": None,
    }
    if fbc:
        metadata["_fbc"] = fbc
    return {
        "token": "",
        "code": order_id,
        "sale_amount": _json_number(amount),
        "currency_enum": {"BRL": 1, "USD": 2, "EUR": 3}.get(currency, 1),
        "currency_enum_key": currency,
        "coupon_code": None,
        "installments": 1,
        "installment_amount": _json_number(amount),
        "shipping_type_enum": None,
        "shipping_amount": None,
        "payment_method_enum": 6,
        "payment_type_enum": 1,
        "billet_url": "",
        "billet_number": None,
        "billet_expiration": None,
        "quantity": 1,
        "sale_status_enum": code,
        "sale_status_enum_key": key,
        "sale_status_detail": key,
        "date_created": local,
        "date_approved": local if code in (2, 8, 10) else None,
        "product": {
            "code": product_id or "PPPB3A07",
            "name": "Curso X",
            "external_reference": None,
            "guarantee": 7,
        },
        "plan": {"code": "PPLQQ9Q9R", "name": "Curso X - à vista", "quantity": 1},
        "plan_itens": [],
        "customer": {
            "customer_type_enum": 1,
            "full_name": "Comprador Teste",
            "email": email or "",
            "identification_type": "CPF",
            "identification_number": "12345678901",
            "birthday": BUYER["birthday"],
            "phone_extension": "55",
            "phone_area_code": digits[:2] if digits else "",
            "phone_number": digits[2:] if digits else "",
            "phone_formated_ddi": f"+55({digits[:2]}) {digits[2:-4]}-{digits[-4:]}" if digits else "",
            "ip": client_ip or "",
            "street_name": "",
            "street_number": "",
            "district": "",
            "complement": "",
            "zip_code": BUYER["zip_code"],
            "city": BUYER["city"],
            "state": BUYER["state"],
            "country": BUYER["country"],
        },
        "metadata": metadata,
        "webhook_owner": "PPAKIOL",
        "commission": [
            {
                "affiliation_code": "PPAGSDE",
                "affiliation_type_enum": 1,
                "name": "Produtor",
                "commission_amount": 0,
            },
        ],
        "marketplaces": {},
    }


def _stripe(
    order_id,
    status,
    email,
    phone,
    session_id,
    amount,
    currency,
    when,
    product_id,
    client_ip,
    fbp,
    fbc,
    event_uid,
):
    event_type = _STRIPE_EVENTS.get(status, status)
    minor = int((amount.scaleb(currency_exponent(currency))).to_integral_value())
    metadata = {
        k: v
        for k, v in {
            "product_id": product_id,
            "fbc": fbc,
            "fbp": fbp,
            "client_ip": client_ip,
            "utm_source": "facebook",
            "utm_campaign": "campanha-exemplo",
        }.items()
        if v
    }
    created = int(when.timestamp())
    if event_type.startswith("checkout.session"):
        obj: dict[str, Any] = {
            "id": f"cs_live_{_digits(order_id)}",
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete" if status != "canceled" else "expired",
            "payment_status": "paid" if status == "approved" else "unpaid",
            "amount_subtotal": minor,
            "amount_total": minor,
            "currency": currency.lower(),
            "client_reference_id": session_id,
            "customer": "cus_Example123",
            "customer_email": None,
            "customer_details": {
                "email": email,
                "name": "Comprador Teste",
                "phone": phone,
                "address": _stripe_address(),
            },
            "metadata": metadata,
            "payment_intent": order_id,
            "created": created - 60,
        }
    elif event_type == "charge.refunded":
        obj = {
            "id": f"ch_{_digits(order_id)}",
            "object": "charge",
            "amount": minor,
            "amount_refunded": minor,
            "refunded": True,
            "currency": currency.lower(),
            "payment_intent": order_id,
            "billing_details": {
                "email": email,
                "phone": phone,
                "name": "Comprador Teste",
                "address": _stripe_address(),
            },
            "metadata": metadata,
            "created": created - 600,
        }
    elif event_type == "charge.dispute.created":
        obj = {
            "id": f"dp_{_digits(order_id)}",
            "object": "dispute",
            "amount": minor,
            "currency": currency.lower(),
            "charge": f"ch_{_digits(order_id)}",
            "payment_intent": order_id,
            "reason": "fraudulent",
            "status": "needs_response",
            "metadata": {},
            "created": created,
        }
    else:
        obj = {
            "id": order_id,
            "object": "payment_intent",
            "amount": minor,
            "amount_received": minor,
            "currency": currency.lower(),
            "receipt_email": email,
            "metadata": metadata,
            "status": "succeeded",
            "created": created,
        }
    return {
        "id": event_uid or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": True,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def _stripe_address() -> dict[str, Any]:
    return {
        "city": BUYER["city"],
        "country": BUYER["country"],
        "line1": "Av. Paulista, 1000",
        "line2": None,
        "postal_code": BUYER["zip_code"],
        "state": BUYER["state"],
    }


def _json_number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)
