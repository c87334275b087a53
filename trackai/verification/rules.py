"""Pure decisions of purchase verification (no I/O): is a purchase safe to send to Meta?

Hotmart (hottok) and Perfect Pay (token) authenticate a webhook with a static shared token and sign
nothing (gateways.md §2.1, §4.1): whoever holds a leaked token can post a delivery with any order id and
any value. Kiwify (HMAC-SHA1 of the body) and Stripe (HMAC-SHA256) sign the body, so a changed body is
refused at ingest. So, before a purchase is queued for Meta:

1. **Sales API** (the tenant configured API credentials for the gateway): the gateway's own record of
   the sale must exist, have been paid, and carry the same product and amount -> ``confirmed``; a sale
   the gateway does not know (after a short grace for its own indexing delay), never paid, or with
   another amount/product -> ``rejected``; an API that fails -> ``pending`` (retried every run), and
   after ``api_give_up_minutes`` the funnel check below decides instead.
2. **Funnels** (no API credentials): the product must be one the tenant's funnels sell and the amount
   within [min_ratio, max_ratio] x a known price in the same currency -> ``plausible``, else
   ``rejected``. A tenant with no funnel products configured cannot be judged -> ``unverifiable``.
3. Signed gateways without API credentials -> ``signed`` (the body signature is the proof).

``confirmed``/``plausible``/``signed`` are sent; ``rejected``/``pending`` never are; ``unverifiable``
follows the tenant's policy (``send`` by default, see docs/security.md: holding would silently stop
every purchase of a tenant that has not configured funnels or API credentials, while a forged event
needs a leaked token and is surfaced by the anomaly alarm).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from trackai.verification.credentials import KIND_BY_GATEWAY as SALES_API_KINDS  # noqa: F401

STATIC_TOKEN_GATEWAYS = frozenset({"hotmart", "perfectpay"})
SIGNED_GATEWAYS = frozenset({"kiwify", "stripe"})

Outcome = Literal["confirmed", "plausible", "signed", "unverifiable", "rejected", "pending"]
Method = Literal["sales_api", "funnel", "signature", "none"]
Policy = Literal["send", "hold"]
SENT_OUTCOMES = frozenset({"confirmed", "plausible", "signed"})

# Sales-API statuses. "ever_paid": the sale was paid at some point (a later refund does not undo the
# Purchase event, as in the pipeline); "not_yet": may still become paid (retry); anything else = never.
SALE_STATUSES: dict[str, dict[str, frozenset[str]]] = {
    "hotmart": {  # developers.hotmart.com sales/history purchase.status (docs/runbooks/purchase-verification.md)
        "ever_paid": frozenset(
            {"APPROVED", "COMPLETE", "REFUNDED", "PARTIALLY_REFUNDED", "CHARGEBACK", "DISPUTE", "PROTESTED"}
        ),
        "not_yet": frozenset(
            {
                "WAITING_PAYMENT",
                "PRINTED_BILLET",
                "PROCESSING_TRANSACTION",
                "UNDER_ANALISYS",
                "UNDER_ANALYSIS",
                "STARTED",
                "PRE_ORDER",
                "OVERDUE",
            }
        ),
    },
    "kiwify": {  # docs.kiwify.com.br api-reference/sales status enum
        "ever_paid": frozenset(
            {
                "paid",
                "approved",
                "authorized",
                "refunded",
                "chargedback",
                "refund_requested",
                "pending_refund",
            }
        ),
        "not_yet": frozenset({"pending", "processing", "waiting_payment"}),
    },
}


@dataclass(frozen=True)
class Purchase:
    """The values of ``core.purchases`` that go to Meta and can be checked."""

    tenant_id: str
    gateway: str
    order_id: str
    amount: Decimal | None
    currency: str | None
    product_id: str | None


@dataclass(frozen=True)
class Reference:
    """What a tenant's funnels sell: product id -> known prices (currency -> prices; may be empty)."""

    products: Mapping[str, Mapping[str, tuple[Decimal, ...]]] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.products)


@dataclass(frozen=True)
class Sale:
    """The gateway's own record of an order, as its sales API returned it (``found=False``: unknown)."""

    found: bool
    status: str | None = None
    amount: Decimal | None = None  # major units
    currency: str | None = None
    product_id: str | None = None


@dataclass(frozen=True)
class Limits:
    """Tolerances (TRACKAI_VERIFY_*; see trackai.settings.VerifySettings)."""

    amount_min_ratio: float = 0.1
    amount_max_ratio: float = 2.0
    api_amount_tolerance: float = 0.01
    not_found_grace: timedelta = timedelta(minutes=15)
    api_give_up: timedelta = timedelta(minutes=60)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    method: Method
    gateway_status: str | None = None
    gateway_amount: Decimal | None = None


def check_against_funnels(purchase: Purchase, reference: Reference, limits: Limits) -> Verdict:
    """Product and amount sanity against what the tenant's funnels sell."""
    if not reference.configured:
        return Verdict("unverifiable", "no_reference", "none")
    prices = reference.products.get(purchase.product_id or "")
    if prices is None:
        return Verdict("rejected", "unknown_product", "funnel")
    if not prices:
        return Verdict("plausible", "funnel_product", "funnel")
    if purchase.amount is None:
        return Verdict("rejected", "no_amount", "funnel")
    candidates = prices.get(purchase.currency or "") if purchase.currency else _all(prices)
    if not candidates:
        return Verdict("rejected", "currency_not_sold", "funnel")
    low, high = Decimal(str(limits.amount_min_ratio)), Decimal(str(limits.amount_max_ratio))
    if any(price * low <= purchase.amount <= price * high for price in candidates):
        return Verdict("plausible", "funnel_product_and_price", "funnel")
    return Verdict("rejected", "amount_out_of_range", "funnel")


def _all(prices: Mapping[str, tuple[Decimal, ...]]) -> tuple[Decimal, ...]:
    return tuple(p for values in prices.values() for p in values)


def check_against_sale(
    purchase: Purchase, sale: Sale, *, first_checked_at: datetime, now: datetime, limits: Limits
) -> Verdict:
    """Compare the delivery with the gateway's record of the sale."""
    if not sale.found:
        if now - first_checked_at < limits.not_found_grace:
            return Verdict("pending", "not_found_yet", "sales_api")
        return Verdict("rejected", "not_found_at_gateway", "sales_api")
    seen = {"gateway_status": sale.status, "gateway_amount": sale.amount}
    statuses = SALE_STATUSES.get(purchase.gateway, {})
    status = sale.status or ""
    if status not in statuses.get("ever_paid", ()):
        if status in statuses.get("not_yet", ()) and now - first_checked_at < limits.api_give_up:
            return Verdict("pending", "not_paid_yet", "sales_api", **seen)
        return Verdict("rejected", "not_paid_at_gateway", "sales_api", **seen)
    if purchase.product_id and sale.product_id and purchase.product_id != sale.product_id:
        return Verdict("rejected", "product_mismatch", "sales_api", **seen)
    if purchase.currency and sale.currency and purchase.currency != sale.currency:
        return Verdict("rejected", "currency_mismatch", "sales_api", **seen)
    if purchase.amount is not None and sale.amount is not None:
        tolerance = max(Decimal("0.01"), sale.amount * Decimal(str(limits.api_amount_tolerance)))
        if abs(purchase.amount - sale.amount) > tolerance:
            return Verdict("rejected", "amount_mismatch", "sales_api", **seen)
    return Verdict("confirmed", "sale_confirmed", "sales_api", **seen)


def api_error_verdict(
    purchase: Purchase, reference: Reference, *, first_checked_at: datetime, now: datetime, limits: Limits
) -> Verdict:
    """The sales API failed: retry for ``api_give_up``, then let the funnels decide."""
    if now - first_checked_at < limits.api_give_up:
        return Verdict("pending", "sales_api_error", "sales_api")
    fallback = check_against_funnels(purchase, reference, limits)
    if fallback.outcome == "unverifiable":
        return Verdict("unverifiable", "sales_api_unavailable", "none")
    return fallback


def without_sales_api(purchase: Purchase, reference: Reference, limits: Limits) -> Verdict:
    """No API credentials for this gateway: signed gateways pass on their signature, the others are
    checked against the funnels."""
    if purchase.gateway in SIGNED_GATEWAYS:
        return Verdict("signed", "body_signature", "signature")
    return check_against_funnels(purchase, reference, limits)


def dispatchable(outcome: str, policy: Policy) -> bool:
    """Whether a purchase with this outcome may be queued for Meta under the tenant's policy."""
    if outcome in SENT_OUTCOMES:
        return True
    return outcome == "unverifiable" and policy == "send"


def is_anomaly(outcome: str, reason: str, is_dispatchable: bool) -> bool:
    """What the anomaly alarm counts: every rejection, every held purchase, and unverifiable purchases
    of tenants that did configure a reference (their API failed past the give-up time). Unverifiable
    purchases of tenants that configured nothing are reported, not alarmed (they would fire forever)."""
    if outcome == "rejected" or (outcome == "unverifiable" and not is_dispatchable):
        return True
    return outcome == "unverifiable" and reason != "no_reference"
