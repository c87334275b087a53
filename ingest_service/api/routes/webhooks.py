"""POST /api/v1/webhooks/{gateway}/{tenant_id}: verify on raw bytes, land, then answer."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ingest_service.core.deps import (
    BodyTooLarge,
    read_body,
    retry_after_window,
    state,
    unavailable,
)
from ingest_service.core.logging import log
from ingest_service.core.store import DatabaseUnavailable, RowRefused
from trackai.core.gateways import ADAPTERS, AuthError, MappingError, get_gateway

router = APIRouter(tags=["webhooks"])
UNAUTHORIZED = "invalid signature or unknown tenant"
_DUMMY_SECRET = "trackai-dummy-secret-for-constant-work"  # noqa: S105 - never matches a real delivery


@router.post(
    "/api/v1/webhooks/{gateway}/{tenant_id}",
    summary="Receive a payment-gateway webhook",
    responses={
        200: {"description": '{"status": "accepted"} or {"status": "duplicate"}'},
        202: {"description": "verified but not mappable: kept encrypted in quarantine"},
        401: {"description": "bad/missing signature or token, or unknown tenant (same body)"},
        404: {"description": "unknown gateway"},
        413: {"description": "body over the size limit"},
        429: {"description": "tenant rate limit exceeded (Retry-After)"},
        503: {"description": "database unavailable (Retry-After)"},
    },
)
async def receive_webhook(gateway: str, tenant_id: str, request: Request) -> JSONResponse:
    app = state(request)
    settings = app.settings
    adapter = get_gateway(gateway)
    tenant_uuid = _uuid(tenant_id)

    async def refuse(reason: str, status: int, detail: str, tenant: uuid.UUID | None = None, **headers: str):
        app.metrics.rejections.labels(
            str(tenant) if tenant else "unknown", gateway if adapter else "unknown", reason
        ).inc()
        log.warning(
            "webhook refused",
            extra={
                "tenant_id": str(tenant) if tenant else None,
                "gateway": gateway[:40],
                "reason": reason,
                "status": status,
            },
        )
        await app.store.reject(tenant_id, tenant, gateway, reason, status)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)

    if adapter is None:
        return await refuse(
            "unknown_gateway", 404, f"unknown gateway {gateway!r}; expected one of {', '.join(ADAPTERS)}"
        )
    try:
        body = await read_body(request, settings.max_body_bytes)
    except BodyTooLarge:
        return await refuse("body_too_large", 413, f"body larger than {settings.max_body_bytes} bytes")

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
        reason = exc.reason if known else "unknown_tenant"
        detail = exc.public if known else UNAUTHORIZED
        return await refuse(reason, 401, detail, tenant_uuid if known else None)
    except (UnicodeError, ValueError, TypeError):
        # Credentials the adapter cannot even compare (e.g. a token that is a lone surrogate "\ud800"):
        # a failed verification like any other, never a 500.
        reason = "malformed_credentials" if known else "unknown_tenant"
        return await refuse(reason, 401, UNAUTHORIZED, tenant_uuid if known else None)

    limit = settings.webhook_rate_limit_per_min
    try:
        try:
            mapped = adapter.map(body)
            result = await app.store.land_webhook(tenant_uuid, gateway, mapped, body, limit)
        except (MappingError, RowRefused) as exc:
            limited, _ = await app.store.quarantine(
                tenant_uuid, tenant_id, gateway, _safe_key(adapter, body), body, str(exc), limit
            )
            if limited:
                return await _limited(refuse, limit, tenant_uuid)
            app.metrics.webhooks.labels(gateway, "quarantined").inc()
            app.metrics.rejections.labels(str(tenant_uuid), gateway, "quarantined").inc()
            log.error(
                "webhook quarantined",
                extra={"tenant_id": str(tenant_uuid), "gateway": gateway, "reason": type(exc).__name__},
            )
            return JSONResponse({"status": "quarantined"}, status_code=202)
    except DatabaseUnavailable:
        log.error("database unavailable", extra={"tenant_id": str(tenant_uuid), "gateway": gateway})
        return unavailable()

    if result.rate_limited:
        return await _limited(refuse, limit, tenant_uuid)
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


async def _limited(refuse, limit: int, tenant: uuid.UUID) -> JSONResponse:
    return await refuse(
        "rate_limited",
        429,
        f"rate limit exceeded ({limit} requests per minute for this tenant)",
        tenant,
        **{"Retry-After": retry_after_window()},
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
