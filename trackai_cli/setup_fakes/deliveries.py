"""Good and bad gateway deliveries to a running ingest service (validate_gateway_webhook tests and demo),
built with the sample builders and signed as each gateway signs (trackai_cli.gateway_samples/_signing)."""

from __future__ import annotations

import json
import time
import uuid

import httpx

from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

KINDS = ("good", "wrong_secret", "missing_credential", "stale_timestamp", "unknown_tenant", "unmappable")


def deliver(base_url: str, gateway: str, tenant_id: str, secret: str, kind: str = "good") -> httpx.Response:
    """POST one delivery of ``kind`` to ``{base_url}/api/v1/webhooks/{gateway}/{tenant}``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    order = f"setup-{uuid.uuid4().hex[:10]}"
    payload = build_payload(gateway, order_id=order, email="buyer@example.com", phone="11 98765-4321")
    if kind == "unmappable":  # authentic, but nothing an adapter can map: quarantined
        payload = {"hello": "world", "id": str(uuid.uuid4())}
    body = json.dumps(payload, separators=(",", ":")).encode()
    now = time.time() - (3600 if kind == "stale_timestamp" else 0)
    signing_secret = secret + "x" if kind == "wrong_secret" else secret
    headers, query, body = sign_request(gateway, signing_secret, body, now=now)
    if kind == "missing_credential":
        headers = {"Content-Type": "application/json"}
        query = {}
        if gateway == "perfectpay":
            body = json.dumps({k: v for k, v in json.loads(body).items() if k != "token"}).encode()
    target = str(uuid.uuid4()) if kind == "unknown_tenant" else tenant_id
    return httpx.post(
        f"{base_url.rstrip('/')}/api/v1/webhooks/{gateway}/{target}",
        content=body,
        headers=headers,
        params=query,
        timeout=10,
    )
