"""POST /api/v1/track/click (pageview and lead via ``event_type``): public, CORS-open, answers 202."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest_service.core.deps import BodyTooLarge, client_ip, read_body, state, too_many, unavailable
from ingest_service.core.logging import log
from ingest_service.core.store import DatabaseUnavailable, RowRefused
from trackai.core.fbc import build_fbc, fbclid_from_fbc, is_valid_fbc, is_valid_fbclid, is_valid_fbp
from trackai.core.pii import hash_email, hash_phone

router = APIRouter(tags=["tracking"])
_FBCLID = re.compile(r"[?&]fbclid=([^&#]*)")
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "src", "sck", "xcod")


class ClickIn(BaseModel):
    """Body of a click/pageview/lead. Sent as JSON (any Content-Type, so sendBeacon text/plain works)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    tenant_id: uuid.UUID
    session_id: str = Field(min_length=1, max_length=200)
    event_type: Literal["click", "pageview", "lead"] = "click"
    url: str | None = Field(default=None, max_length=8192, alias="landing_url")
    referrer: str | None = Field(default=None, max_length=8192)
    fbc: str | None = Field(default=None, max_length=1000)
    fbp: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=200)


def raw_fbclid(url: str | None) -> str | None:
    """The fbclid exactly as in the URL (never decoded, re-encoded or truncated)."""
    if not url:
        return None
    match = _FBCLID.search(url.split("#", 1)[0])
    return match.group(1) if match and match.group(1) else None


def resolve_fbc(given: str | None, fbclid: str | None, now_ms: int) -> str | None:
    """Keep a well-formed fbc for the same fbclid verbatim; otherwise build ``fb.1.<first-seen-ms>.<fbclid>``."""
    given = given.strip() if given else None
    if given and not is_valid_fbc(given):
        given = None
    if fbclid and is_valid_fbclid(fbclid) and fbclid_from_fbc(given) != fbclid:
        return build_fbc(fbclid, now_ms)
    return given


def utm_from_url(url: str | None) -> dict[str, str]:
    if not url:
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {k: v[:500] for k, v in parse_qsl(query) if k in _UTM_KEYS and v}


@router.post(
    "/api/v1/track/click",
    status_code=202,
    summary="Record a landing click, pageview or lead",
    responses={
        202: {"description": '{"status": "accepted", "click_id": ..., "fbc": ...}'},
        404: {"description": "unknown tenant"},
        413: {"description": "body too large"},
        422: {"description": "invalid click (the detail lists each field and what is wrong)"},
        429: {"description": "tenant rate limit exceeded (Retry-After)"},
        503: {"description": "database unavailable (Retry-After)"},
    },
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ClickIn.model_json_schema()}},
            "required": True,
        }
    },
)
async def track_click(request: Request) -> JSONResponse:
    app = state(request)
    try:
        body = await read_body(request, min(app.settings.max_body_bytes, 64 * 1024))
    except BodyTooLarge:
        return JSONResponse({"detail": "body too large"}, status_code=413)
    try:
        click = ClickIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return JSONResponse({"detail": errors}, status_code=422)
    try:
        info = await app.store.tenant(click.tenant_id)
        if info is None or not info.active:
            return JSONResponse({"detail": "unknown tenant"}, status_code=404)
        now_ms = int(time.time() * 1000)
        fbclid = raw_fbclid(click.url)
        fbc = resolve_fbc(click.fbc, fbclid, now_ms)
        fbp = click.fbp.strip() if click.fbp and is_valid_fbp(click.fbp.strip()) else None
        params = {
            "tenant": click.tenant_id,
            "event_type": click.event_type,
            "session_id": click.session_id,
            "occurred_at": datetime.fromtimestamp(now_ms / 1000, tz=UTC),
            "landing_url": click.url,
            "referrer": click.referrer,
            "fbclid": fbclid or fbclid_from_fbc(fbc),
            "fbc": fbc,
            "fbp": fbp,
            "client_ip": client_ip(request, app.trusted),
            "user_agent": (request.headers.get("user-agent") or "")[:1000] or None,
            "email_hash": hash_email(click.email),
            "phone_hash": hash_phone(click.phone),
            "external_id": click.external_id,
            "utm": utm_from_url(click.url),
        }
        limit = app.settings.click_rate_limit_per_min
        limited, click_id, _ = await app.store.land_click(params, limit)
    except DatabaseUnavailable:
        return unavailable()
    except RowRefused as exc:
        return JSONResponse({"detail": f"click has a value that cannot be stored: {exc}"}, status_code=422)
    if limited:
        log.warning("click rate limited", extra={"tenant_id": str(click.tenant_id), "status": 429})
        return too_many(limit)
    app.metrics.clicks.labels(click.event_type).inc()
    return JSONResponse({"status": "accepted", "click_id": click_id, "fbc": fbc}, status_code=202)
