"""Sales-API credentials: stored as tenant secrets of kinds ``hotmart_api`` / ``kiwify_api`` (a JSON
object, encrypted like every other secret). Pure parsing and validation.

- ``hotmart_api``: ``{"client_id": ..., "client_secret": ...}`` (Hotmart "Credenciais" of the
  developer tools; the Basic header is base64 of ``client_id:client_secret``).
- ``kiwify_api``: ``{"client_id": ..., "client_secret": ..., "account_id": ...}`` (Kiwify API key;
  ``account_id`` goes in the ``x-kiwify-account-id`` header).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

KIND_BY_GATEWAY = {"hotmart": "hotmart_api", "kiwify": "kiwify_api"}  # gateways with a sales API
KINDS = tuple(KIND_BY_GATEWAY.values())
REQUIRED = {
    "hotmart_api": ("client_id", "client_secret"),
    "kiwify_api": ("client_id", "client_secret", "account_id"),
}


class CredentialsError(ValueError):
    pass


@dataclass(frozen=True)
class ApiCredentials:
    kind: str
    client_id: str
    client_secret: str
    account_id: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"ApiCredentials(kind={self.kind!r}, client_id={self.client_id!r})"


def parse_credentials(kind: str, text: str) -> ApiCredentials:
    """Validate the JSON of a sales-API secret; the error names the missing keys, never the values."""
    if kind not in REQUIRED:
        raise CredentialsError(f"unknown sales-API secret kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CredentialsError(f"{kind} must be a JSON object with {', '.join(REQUIRED[kind])}") from exc
    if not isinstance(data, dict):
        raise CredentialsError(f"{kind} must be a JSON object with {', '.join(REQUIRED[kind])}")
    missing = [k for k in REQUIRED[kind] if not isinstance(data.get(k), str) or not data[k].strip()]
    if missing:
        raise CredentialsError(f"{kind} is missing {', '.join(missing)}")
    return ApiCredentials(
        kind, data["client_id"].strip(), data["client_secret"].strip(), (data.get("account_id") or None)
    )
