"""Loopback fake of the Hotmart and Kiwify sales APIs, enforcing the contract trackai.verification uses.

Attested (the gateways' public API pages, cited in ``trackai.verification.clients``; gateways.md covers
webhooks only):

- Hotmart: ``POST /security/oauth/token?grant_type=client_credentials&client_id=..&client_secret=..``
  with ``Authorization: Basic base64(client_id:client_secret)`` -> ``{access_token, token_type,
  expires_in}``; ``GET /payments/api/v1/sales/history`` with ``Authorization: Bearer`` -> ``{items,
  page_info}``, each item ``{product: {id, name}, buyer, purchase: {transaction, status, price: {value,
  currency_code}, ...}}``; without a ``transaction`` or ``transaction_status`` filter only APPROVED and
  COMPLETE sales are listed; errors are ``{error, error_description}`` with 400/401.
- Kiwify: ``POST /v1/oauth/token`` (form ``client_id``, ``client_secret``) -> ``{access_token,
  token_type: "Bearer", expires_in, scope}``; ``GET /v1/sales/{id}`` with ``Authorization: Bearer`` and
  ``x-kiwify-account-id`` -> the sale ``{id, reference, status, product: {id, name}, payment:
  {charge_amount (cents), charge_currency, ...}, ...}``.

Assumed (not shown in those pages): the exact error bodies and codes for a wrong client or token
(401 here), Kiwify answering 404 for an unknown sale id, an account id that does not own the token
being refused with 401, and Hotmart returning an empty ``items`` list for an unknown transaction.

Test controls (not part of either API): ``SalesApiState.add_hotmart_sale`` / ``add_kiwify_sale``,
``fail_next`` (answer the next N lookups with 503) and ``lookups`` (every lookup received).
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HOTMART_LISTED_BY_DEFAULT = ("APPROVED", "COMPLETE")


@dataclass
class SalesApiState:
    """Accounts, sales and issued tokens; thread-safe (the server runs in another thread)."""

    hotmart_clients: dict[str, str] = field(default_factory=dict)  # client_id -> client_secret
    kiwify_clients: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (secret, account_id)
    hotmart_sales: dict[str, dict] = field(default_factory=dict)  # transaction -> history item
    kiwify_sales: dict[str, dict] = field(default_factory=dict)  # (account_id, order_id) key -> sale
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)  # token -> (gateway, account)
    fail_next: int = 0
    lookups: list[tuple[str, str]] = field(default_factory=list)  # (gateway, order id)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_hotmart_sale(
        self,
        transaction: str,
        *,
        product_id: int,
        price: Decimal | float,
        currency: str = "BRL",
        status: str = "APPROVED",
    ) -> None:
        with self.lock:
            self.hotmart_sales[transaction] = {
                "product": {"id": product_id, "name": "Curso de Exemplo"},
                "buyer": {
                    "name": "Comprador Teste",
                    "ucode": secrets.token_hex(8),
                    "email": "buyer@example.com",
                },
                "producer": {"name": "Produtora Exemplo", "ucode": secrets.token_hex(8)},
                "purchase": {
                    "transaction": transaction,
                    "order_date": 1_767_225_600_000,
                    "approved_date": 1_767_225_600_000,
                    "status": status,
                    "is_subscription": False,
                    "commission_as": "PRODUCER",
                    "price": {"value": float(price), "currency_code": currency},
                    "payment": {"method": "PIX", "installments_number": 1, "type": "PIX"},
                    "offer": {"payment_mode": "UNIQUE_PAYMENT", "code": "a8wswzvg"},
                },
            }

    def add_kiwify_sale(
        self,
        order_id: str,
        *,
        account_id: str,
        product_id: str,
        charge_amount: int,
        currency: str = "BRL",
        status: str = "paid",
    ) -> None:
        with self.lock:
            self.kiwify_sales[f"{account_id}/{order_id}"] = {
                "id": order_id,
                "reference": order_id[:7],
                "type": "product",
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "product": {"id": product_id, "name": "Curso de Exemplo"},
                "status": status,
                "payment_method": "pix",
                "net_amount": int(charge_amount * 0.9),
                "currency": currency,
                "approved_date": "2026-01-01T00:00:00.000Z",
                "payment": {
                    "charge_amount": charge_amount,
                    "charge_currency": currency,
                    "net_amount": int(charge_amount * 0.9),
                    "product_base_price": charge_amount,
                    "product_base_currency": currency,
                    "fee": int(charge_amount * 0.1),
                    "fee_currency": currency,
                },
                "sale_type": "producer",
            }

    def issue_token(self, gateway: str, account: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = (gateway, account)
        return token

    def account_of(self, request: Request, gateway: str) -> str | None:
        """The account of a valid Bearer token issued for ``gateway``, else None."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with self.lock:
            issued = self.tokens.get(token)
        return issued[1] if issued and issued[0] == gateway else None

    def take_failure(self) -> bool:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_app(state: SalesApiState) -> Starlette:
    async def hotmart_token(request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "client_credentials":
            return _error(400, "invalid_parameter", "grant_type must be client_credentials")
        client_id, client_secret = q.get("client_id", ""), q.get("client_secret", "")
        expected_basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        basic_ok = secrets.compare_digest(request.headers.get("authorization", ""), f"Basic {expected_basic}")
        with state.lock:
            known = state.hotmart_clients.get(client_id)
        if known is None or not secrets.compare_digest(known, client_secret) or not basic_ok:
            return _error(401, "unauthorized", "invalid client credentials")
        token = state.issue_token("hotmart", client_id)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 86400})

    async def hotmart_history(request: Request) -> JSONResponse:
        if state.account_of(request, "hotmart") is None:
            return _error(401, "invalid_token", "missing or invalid Bearer token")
        transaction = request.query_params.get("transaction")
        with state.lock:
            state.lookups.append(("hotmart", transaction or ""))
        if state.take_failure():
            return _error(503, "internal_server_error", "API unavailable")
        status_filter = request.query_params.get("transaction_status")
        with state.lock:
            items = list(state.hotmart_sales.values())
        if transaction:
            items = [i for i in items if i["purchase"]["transaction"] == transaction]
        elif status_filter:
            items = [i for i in items if i["purchase"]["status"] == status_filter]
        else:
            items = [i for i in items if i["purchase"]["status"] in HOTMART_LISTED_BY_DEFAULT]
        return JSONResponse(
            {
                "items": items,
                "page_info": {"total_results": len(items), "results_per_page": max(len(items), 1)},
            }
        )

    async def kiwify_token(request: Request) -> JSONResponse:
        form = await request.form()
        client_id, client_secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
        with state.lock:
            known = state.kiwify_clients.get(client_id)
        if known is None or not secrets.compare_digest(known[0], client_secret):
            return _error(401, "unauthorized", "invalid client credentials")
        token = state.issue_token("kiwify", known[1])
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": 86400, "scope": "sales"}
        )

    async def kiwify_sale(request: Request) -> JSONResponse:
        account = state.account_of(request, "kiwify")
        if account is None or request.headers.get("x-kiwify-account-id") != account:
            return _error(401, "unauthorized", "missing or invalid Bearer token or x-kiwify-account-id")
        order_id = request.path_params["sale_id"]
        with state.lock:
            state.lookups.append(("kiwify", order_id))
        if state.take_failure():
            return _error(503, "internal_server_error", "API unavailable")
        with state.lock:
            sale = state.kiwify_sales.get(f"{account}/{order_id}")
        if sale is None:
            return _error(404, "not_found", "sale not found")
        return JSONResponse(sale)

    return Starlette(
        routes=[
            Route("/security/oauth/token", hotmart_token, methods=["POST"]),
            Route("/payments/api/v1/sales/history", hotmart_history, methods=["GET"]),
            Route("/v1/oauth/token", kiwify_token, methods=["POST"]),
            Route("/v1/sales/{sale_id}", kiwify_sale, methods=["GET"]),
        ]
    )
