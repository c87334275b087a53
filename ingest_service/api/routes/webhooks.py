"""POST /api/v1/webhooks/{gateway}/{tenant_id}: verify on raw bytes, land, then answer.

Cheapest checks first, so that a forged or abusive request costs as little as possible: the address's
budget of unattributed refusals (no work at all; ingest_service.core.refusals), the gateway name,
whether the credential is there at all (header or query: before the body is read), the gateway's body
cap and the body deadline, whether a body-borne token is there at all (before any JSON parsing); only
then the tenant, the signature, and the database.
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request

from ingest_service.core.deps import (
    CLOSE,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    JSONResponse,
    body_refusal,
    client_ip,
    read_body,
    retry_after_window,
    state,
    unavailable,
)
from ingest_service.core.logging import log
from ingest_service.core.metrics import gateway_label
from ingest_service.core.refusals import ADDRESS_LIMITED
from ingest_service.core.store import DatabaseUnavailable, RowRefused
from trackai import feature_flags
from trackai.core.gateways import ADAPTERS, AuthError, MappingError, get_gateway
from trackai.verification.allowlist import parse_allowlists, source_allowed

router = APIRouter(tags=["webhooks"])
UNAUTHORIZED = "invalid signature or unknown tenant"
_DUMMY_SECRET = "trackai-dummy-secret-for-constant-work"  # noqa: S105 - never matches a real delivery
KIB = 1024
# Largest body per gateway. Real deliveries are ~1-3 KiB (tests/fixtures); Stripe events carry up to 50
# metadata values of 500 characters and, for invoices, line items. Perfect Pay's token is inside the JSON,
# so its body is parsed before it is authenticated: its cap is the smallest. TRACKAI_MAX_BODY_BYTES caps all.
BODY_LIMITS = {"stripe": 256 * KIB, "hotmart": 64 * KIB, "kiwify": 64 * KIB, "perfectpay": 32 * KIB}


def missing_credential(gateway: str, request: Request, body: bytes | None) -> str | None:
    """The refusal reason when a request carries no credential at all, judged without parsing anything
    (``body`` None: before the body is read). The adapter's ``authenticate`` stays the judge of every
    request that does carry one. A body-borne token can only be absent when its key is not in the bytes
    and no JSON escape could spell it."""
    if gateway == "stripe":
        return None if request.headers.get("stripe-signature") else "missing_signature"
    if gateway == "kiwify":
        return None if request.query_params.get("signature") else "missing_signature"
    if body is None:
        return None
    if gateway == "hotmart" and request.headers.get("x-hotmart-hottok"):
        return None
    key = b"hottok" if gateway == "hotmart" else b"token"
    return None if key in body or b"\\u" in body else "missing_token"


@router.post(
    "/api/v1/webhooks/{gateway}/{tenant_id}",
    summary="Receive a payment-gateway webhook",
    responses={
        200: {"description": '{"status": "accepted"} or {"status": "duplicate"}'},
        202: {"description": "verified but not mappable: kept encrypted in quarantine"},
        401: {"description": "bad/missing signature or token, or unknown tenant (same body)"},
        403: {"description": "source address not in the gateway's TRACKAI_VERIFY_SOURCE_ALLOWLIST"},
        404: {"description": "unknown gateway"},
        408: {"description": "body not received in time"},
        413: {"description": "body over the gateway's size limit"},
        429: {"description": "tenant rate limit, or too many refusals from this address (Retry-After)"},
        503: {"description": "database unavailable (Retry-After)"},
    },
)
async def receive_webhook(gateway: str, tenant_id: str, request: Request) -> JSONResponse:
    app = state(request)
    settings = app.settings
    adapter = get_gateway(gateway)
    label = gateway_label(gateway)
    tenant_uuid = _uuid(tenant_id)
    address = client_ip(request, app.trusted)

    def refuse(
        reason: str, status: int, detail: str, tenant: uuid.UUID | None = None, headers: dict | None = None
    ) -> JSONResponse:
        app.refusals.add(address, tenant, label, reason, status)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    def address_limited(whose: str) -> JSONResponse:
        return refuse(
            ADDRESS_LIMITED,
            429,
            f"too many refused webhooks from this address{whose}; retry later",
            headers={"Retry-After": app.refusals.retry_after(), **CLOSE},
        )

    if app.refusals.over_budget(address):
        return address_limited("")
    if adapter is None:
        return refuse(
            "unknown_gateway", 404, f"unknown gateway {gateway[:40]!r}; expected one of {', '.join(ADAPTERS)}"
        )
    if not source_allowed(gateway, address, parse_allowlists(settings.verify.source_allowlist)):
        return refuse("source_not_allowed", 403, "source address not allowed for this gateway", headers=CLOSE)
    missing = missing_credential(gateway, request, None)
    if missing:
        return refuse(missing, 401, UNAUTHORIZED, headers=CLOSE)
    limit = min(settings.max_body_bytes, BODY_LIMITS[gateway])
    try:
        body = await read_body(request, limit, settings.body_timeout_seconds)
    except (BodyTooLarge, BodyTimeout, ClientGone) as exc:
        reason, status, detail = body_refusal(exc, limit, settings.body_timeout_seconds)
        known = None
        if isinstance(exc, BodyTooLarge) and tenant_uuid:  # a real delivery over the cap must show
            try:
                info = await app.store.tenant(tenant_uuid)
            except DatabaseUnavailable:
                info = None
            known = tenant_uuid if info is not None and info.active else None
            if known and app.refusals.over_tenant_budget(address, known):
                return address_limited(" for this tenant")
        return refuse(reason, status, detail, known, headers=CLOSE)
    missing = missing_credential(gateway, request, body)
    if missing:
        return refuse(missing, 401, UNAUTHORIZED)

    try:
        info = await app.store.tenant(tenant_uuid) if tenant_uuid else None
        secret = info.secret(gateway, settings) if info is not None and info.active else None
    except DatabaseUnavailable:
        return unavailable()
    known = secret is not None
    try:
        adapter.authenticate(
            body,
            request.headers,
            request.query_params,
            secret if known else _DUMMY_SECRET,
            now=time.time(),
            tolerance=settings.stripe_tolerance_seconds,
        )
        if not known:
            raise AuthError("unknown_tenant")
    except AuthError as exc:
        if known and app.refusals.over_tenant_budget(address, tenant_uuid):
            return address_limited(" for this tenant")
        reason = exc.reason if known else "unknown_tenant"
        detail = exc.public if known else UNAUTHORIZED
        return refuse(reason, 401, detail, tenant_uuid if known else None)
    except (UnicodeError, ValueError, TypeError):
        # Credentials the adapter cannot even compare (e.g. a token that is a lone surrogate "\ud800"):
        # a failed verification like any other, never a 500.
        if known and app.refusals.over_tenant_budget(address, tenant_uuid):
            return address_limited(" for this tenant")
        reason = "malformed_credentials" if known else "unknown_tenant"
        return refuse(reason, 401, UNAUTHORIZED, tenant_uuid if known else None)

    if gateway in info.disabled_gateways:  # rollout flag: authenticated, answered, nothing landed
        status, detail = feature_flags.disabled_response(gateway)
        return JSONResponse(detail, status_code=status)

    limit = settings.webhook_rate_limit_per_min
    try:
        try:
            mapped = adapter.map(body)
            result = await app.store.land_webhook(tenant_uuid, gateway, mapped, body, limit)
        except (MappingError, RowRefused) as exc:
            limited = await app.store.quarantine(
                tenant_uuid, tenant_id, gateway, _safe_key(adapter, body), body, str(exc), limit
            )
            if limited:
                return _limited(refuse, limit, tenant_uuid)
            app.metrics.webhooks.labels(gateway, "quarantined").inc()
            app.metrics.rejections.labels(gateway, "quarantined").inc()
            log.error(
                "webhook quarantined",
                extra={"tenant_id": str(tenant_uuid), "gateway": gateway, "reason": type(exc).__name__},
            )
            return JSONResponse({"status": "quarantined"}, status_code=202)
    except DatabaseUnavailable:
        log.error("database unavailable", extra={"tenant_id": str(tenant_uuid), "gateway": gateway})
        return unavailable()

    if result.rate_limited:
        return _limited(refuse, limit, tenant_uuid)
    outcome = "duplicate" if result.duplicate else "accepted"
    app.metrics.webhooks.labels(gateway, outcome).inc()
    log.debug(
        "webhook landed",
        extra={
            "tenant_id": str(tenant_uuid),
            "gateway": gateway,
            "outcome": outcome,
            "delivery_key": mapped.delivery_key,
        },
    )
    return JSONResponse({"status": outcome})


def _limited(refuse, limit: int, tenant: uuid.UUID) -> JSONResponse:
    return refuse(
        "rate_limited",
        429,
        f"rate limit exceeded ({limit} requests per minute for this tenant)",
        tenant,
        {"Retry-After": retry_after_window()},
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _safe_key(adapter, body: bytes) -> str | None:
    try:
        return adapter.delivery_key(adapter.parse(body))[:400]
    except Exception:
        return None
