"""Sign a request exactly as each gateway does (for tests, the demo and benchmarks).

``sign_request(gateway, secret, body)`` returns ``(headers, query, body)``: Stripe gets a
``Stripe-Signature`` header, Hotmart the ``X-HOTMART-HOTTOK`` header, Kiwify ``?signature=`` (HMAC-SHA1
of the raw body), Perfect Pay the ``token`` field written into the JSON body (so the body changes).
"""

from __future__ import annotations

import json
import time

from trackai.core.gateways import kiwify, stripe


def sign_request(
    gateway: str, secret: str, body: bytes, now: float | None = None
) -> tuple[dict[str, str], dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if gateway == "stripe":
        timestamp = int(now if now is not None else time.time())
        headers["Stripe-Signature"] = f"t={timestamp},v1={stripe.signature(secret, timestamp, body)}"
        return headers, {}, body
    if gateway == "hotmart":
        headers["X-HOTMART-HOTTOK"] = secret
        return headers, {}, body
    if gateway == "kiwify":
        return headers, {"signature": kiwify.signature(body, secret)}, body
    if gateway == "perfectpay":
        payload = json.loads(body)
        payload["token"] = secret
        return headers, {}, json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise ValueError(f"unknown gateway {gateway!r}")
