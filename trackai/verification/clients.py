"""Thin httpx clients of the gateways' sales APIs: one lookup per order, returning a ``rules.Sale``.

Contract (gateways.md covers webhooks only; these come from the gateways' public API pages, read for
this task; the fakes in ``trackai_cli.sales_api_mock`` enforce the same):

- **Hotmart** (developers.hotmart.com/docs, "Authentication" and "Sales history"): OAuth 2.0 client
  credentials - ``POST {auth_url}/security/oauth/token?grant_type=client_credentials&client_id=..
  &client_secret=..`` with ``Authorization: Basic base64(client_id:client_secret)`` -> ``{access_token,
  token_type, expires_in}``; then ``GET {api_url}/payments/api/v1/sales/history?transaction=HP..`` with
  ``Authorization: Bearer <token>`` -> ``{items: [{product: {id}, purchase: {transaction, status,
  price: {value, currency_code}}}], page_info}``. With a ``transaction`` filter every status is listed.
  Unknown order = empty ``items`` [assumed: the docs show no example of an empty result].
- **Kiwify** (docs.kiwify.com.br api-reference/auth/oauth and sales/single): ``POST {api_url}/v1/oauth/
  token`` form ``client_id``, ``client_secret`` -> ``{access_token, token_type, expires_in, scope}``;
  ``GET {api_url}/v1/sales/{order_id}`` with ``Authorization: Bearer`` and ``x-kiwify-account-id`` ->
  ``{id, status, product: {id}, payment: {charge_amount (cents), charge_currency}}``. Unknown order =
  HTTP 404 [assumed: the docs show only the 200 response].

Any transport error, 429, 5xx, auth failure or unreadable body raises ``SalesApiError`` (the caller
retries later); it never contains the credentials.
"""

from __future__ import annotations

import base64
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from trackai.verification.credentials import ApiCredentials
from trackai.verification.rules import Sale


class SalesApiError(RuntimeError):
    """The sales API could not answer (network, 429, 5xx, credentials refused, unexpected body)."""


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


class _OAuthClient:
    """Shared token handling: one token per client, refreshed once when the API answers 401."""

    def __init__(self, credentials: ApiCredentials, client: httpx.Client) -> None:
        self.credentials = credentials
        self.http = client
        self._token: str | None = None

    def _fetch_token(self) -> str:
        raise NotImplementedError

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise SalesApiError(f"{type(exc).__name__} calling {httpx.URL(url).host}") from None

    def _token_from(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            raise SalesApiError(f"token request refused: HTTP {response.status_code}")
        try:
            token = response.json().get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise SalesApiError("token response without access_token")
        return token

    def _authorized(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            if self._token is None:
                self._token = self._fetch_token()
            response = self._request(
                method, url, headers={**headers, "Authorization": f"Bearer {self._token}"}, **kwargs
            )
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired or revoked: one fresh token, then give up
                continue
            if response.status_code in (401, 403):
                raise SalesApiError(f"credentials refused: HTTP {response.status_code}")
            if response.status_code == 429 or response.status_code >= 500:
                raise SalesApiError(f"sales API unavailable: HTTP {response.status_code}")
            return response
        raise SalesApiError("unreachable")  # pragma: no cover


class HotmartSales(_OAuthClient):
    def __init__(self, credentials: ApiCredentials, client: httpx.Client, *, api_url: str, auth_url: str):
        super().__init__(credentials, client)
        self.api_url = api_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")

    def _fetch_token(self) -> str:
        c = self.credentials
        basic = base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()
        response = self._request(
            "POST",
            f"{self.auth_url}/security/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": c.client_id,
                "client_secret": c.client_secret,
            },
            headers={"Authorization": f"Basic {basic}"},
        )
        return self._token_from(response)

    def lookup(self, order_id: str) -> Sale:
        response = self._authorized(
            "GET",
            f"{self.api_url}/payments/api/v1/sales/history",
            {"Accept": "application/json"},
            params={"transaction": order_id},
        )
        if response.status_code != 200:
            raise SalesApiError(f"sales history: HTTP {response.status_code}")
        try:
            items = response.json().get("items")
        except (ValueError, AttributeError):
            items = None
        if not isinstance(items, list):
            raise SalesApiError("sales history: body without items")
        for item in items:
            purchase = item.get("purchase") if isinstance(item, dict) else None
            if not isinstance(purchase, dict) or _text(purchase.get("transaction")) != order_id:
                continue
            price = purchase.get("price") if isinstance(purchase.get("price"), dict) else {}
            product = item.get("product") if isinstance(item.get("product"), dict) else {}
            currency = _text(price.get("currency_code"))
            return Sale(
                found=True,
                status=(_text(purchase.get("status")) or "").upper() or None,
                amount=_decimal(price.get("value")),
                currency=currency.upper() if currency else None,
                product_id=_text(product.get("id")),
            )
        return Sale(found=False)


class KiwifySales(_OAuthClient):
    def __init__(self, credentials: ApiCredentials, client: httpx.Client, *, api_url: str):
        super().__init__(credentials, client)
        self.api_url = api_url.rstrip("/")

    def _fetch_token(self) -> str:
        c = self.credentials
        response = self._request(
            "POST",
            f"{self.api_url}/v1/oauth/token",
            data={"client_id": c.client_id, "client_secret": c.client_secret},
        )
        return self._token_from(response)

    def lookup(self, order_id: str) -> Sale:
        response = self._authorized(
            "GET",
            f"{self.api_url}/v1/sales/{quote(order_id, safe='')}",
            {"Accept": "application/json", "x-kiwify-account-id": self.credentials.account_id or ""},
        )
        if response.status_code == 404:
            return Sale(found=False)
        if response.status_code != 200:
            raise SalesApiError(f"sale lookup: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or _text(body.get("id")) != order_id:
            raise SalesApiError("sale lookup: body is not the requested sale")
        payment = body.get("payment") if isinstance(body.get("payment"), dict) else {}
        product = body.get("product") if isinstance(body.get("product"), dict) else {}
        cents = _decimal(payment.get("charge_amount"))
        currency = _text(payment.get("charge_currency"))
        return Sale(
            found=True,
            status=(_text(body.get("status")) or "").lower() or None,
            amount=cents / 100 if cents is not None else None,
            currency=currency.upper() if currency else None,
            product_id=_text(product.get("id")),
        )


def sales_client(
    gateway: str,
    credentials: ApiCredentials,
    client: httpx.Client,
    *,
    hotmart_api_url: str,
    hotmart_auth_url: str,
    kiwify_api_url: str,
) -> HotmartSales | KiwifySales:
    if gateway == "hotmart":
        return HotmartSales(credentials, client, api_url=hotmart_api_url, auth_url=hotmart_auth_url)
    if gateway == "kiwify":
        return KiwifySales(credentials, client, api_url=kiwify_api_url)
    raise ValueError(f"no sales API client for {gateway!r}")
