"""GET /api/v1/snippet/{tenant_id}.js: the tracking snippet for one tenant."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ingest_service.core.deps import state
from trackai.core.snippet import PLATFORM_HOSTS, render_snippet

router = APIRouter(tags=["tracking"])
# nosniff: browsers run the body only as the declared JavaScript. Sellers' pages load it on every view:
# cached for 5 minutes (a snippet change reaches every page within that), errors never cached.
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}
_CACHE_OK = "public, max-age=300"


@router.get(
    "/api/v1/snippet/{tenant_id}.js",
    summary="JavaScript tracking snippet for a tenant",
    responses={
        200: {"description": "the snippet", "content": {"application/javascript": {}}},
        400: {"description": "unknown platform (the detail lists the known ones)"},
        404: {"description": "tenant id is not a UUID"},
    },
)
async def snippet(tenant_id: str, request: Request, platform: str | None = None) -> Response:
    try:
        tenant = uuid.UUID(tenant_id)
    except ValueError:
        return JSONResponse(
            {"detail": "tenant id must be a UUID"},
            status_code=404,
            headers={**_HEADERS, "Cache-Control": "no-store"},
        )
    if platform is not None and platform not in PLATFORM_HOSTS:
        return JSONResponse(
            {"detail": f"unknown platform {platform!r}; expected one of {', '.join(PLATFORM_HOSTS)}"},
            status_code=400,
            headers={**_HEADERS, "Cache-Control": "no-store"},
        )
    js = render_snippet(
        str(tenant),
        state(request).settings.public_base_url,
        platform,
        consent_required=await _consent_required(request, tenant),
    )
    return Response(
        js,
        media_type="application/javascript; charset=utf-8",
        headers={**_HEADERS, "Cache-Control": _CACHE_OK},
    )


async def _consent_required(request: Request, tenant: uuid.UUID) -> bool:
    """The tenant's "consent required" setting (issue 23, cached with the tenant). When the database cannot
    say, the snippet fails closed: it waits for the page's consent like a tenant that requires it."""
    try:
        info = await state(request).store.tenant(tenant)
    except Exception:  # any failure to read the setting means "ask for consent"
        return True
    return bool(info and info.privacy.consent_required)
