"""POST /api/v1/track/click (pageview and lead via ``event_type``): public, CORS-open, answers 202.

Anyone can post here (tenant ids are public), so what a click may claim is narrow:

- ``session_id`` must be the snippet's own id (``trackai.core.session_id``): anything else is refused
  with 422, never stored. A made-up id (``facebook``, ``cpc``, a utm value) could otherwise become the
  deterministic match of real purchases (issue 22, finding 1). Ids the snippet mints always pass.
- Optional fields that break their grammar (``fbc``/``fbp`` per ``trackai.core.fbc``, the URL's fbclid)
  or their size are dropped, and the answer says which and why (``dropped``): never a reason to refuse
  the whole click. An fbc/fbp Meta would refuse but that can be repaired without touching the fbclid
  (re-wrapped, creation time in seconds) is repaired once, here (reason ``normalised``).
- fbc as Meta's Parameter Builder builds it: the fbclid of the landing URL, else of the referrer (the
  landing URL lost it in a redirect); a given fbc for that same fbclid is kept verbatim, appendix included;
  otherwise ``fb.1.<first-seen ms>.<fbclid>``.
- Budgets: per (tenant, address) and per (tenant, session) in this worker's memory, then the tenant's
  shared budget in Postgres; leads have budgets of their own, smaller (ingest_service.core.limits).
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest_service.core.deps import (
    CLOSE,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    JSONResponse,
    body_refusal,
    client_ip,
    read_body,
    state,
    too_many,
    unavailable,
)
from ingest_service.core.limits import address_key
from ingest_service.core.logging import log
from ingest_service.core.store import DatabaseUnavailable, RowRefused
from trackai.core import bots, consent
from trackai.core.fbc import build_fbc, fbclid_from_fbc, is_valid_fbclid, normalize_fbc, normalize_fbp
from trackai.core.pii import hash_email, hash_phone
from trackai.core.session_id import PATTERN as SESSION_PATTERN
from trackai.core.session_id import is_session_id

router = APIRouter(tags=["tracking"])
_FBCLID = re.compile(r"[?&]fbclid=([^&#]*)")
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "src", "sck", "xcod")
BODY_LIMIT = 16 * 1024
# Stored sizes. A landing URL with an fbclid and utm_* fits in 4 KiB; a longer one keeps its origin and
# path (the fbclid and utm_* are read from the full URL first). Each row is at most ~8 KiB (it was 27).
SIZE_LIMITS = {"url": 4096, "referrer": 2048, "email": 320, "phone": 40, "external_id": 200}
UTM_VALUE_LIMIT = 200
SESSION_RULE = "session_id must be the tracking snippet's id: 'tai_' followed by 22 letters or digits"


class ClickIn(BaseModel):
    """Body of a click/pageview/lead. Sent as JSON (any Content-Type, so sendBeacon text/plain works).
    Optional fields are not size-checked here: one that is too long is dropped, not refused."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    tenant_id: uuid.UUID
    session_id: str = Field(json_schema_extra={"pattern": SESSION_PATTERN}, description=SESSION_RULE)
    event_type: Literal["click", "pageview", "lead"] = "click"
    url: str | None = Field(default=None, alias="landing_url")
    referrer: str | None = None
    fbc: str | None = None
    fbp: str | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    # Issue 23 (docs/privacy.md): the page's consent (required when the tenant requires consent) and the
    # snippet's navigator.webdriver (automation).
    consent: bool | None = None
    automation: bool | None = None

    @field_validator("session_id")
    @classmethod
    def _snippet_session(cls, value: str) -> str:
        if not is_session_id(value):
            raise ValueError(SESSION_RULE)
        return value


class Dropped(list):
    """Optional fields left out (or shortened) of a landed click: ``{"field", "reason", "detail"}`` in
    the 202 body; ``reason`` (invalid, too_long, shortened) is also a metric label."""

    def add(self, name: str, reason: str, detail: str) -> None:
        self.append({"field": name, "reason": reason, "detail": detail})


def raw_fbclid(url: str | None) -> str | None:
    """The fbclid exactly as in the URL (never decoded, re-encoded or truncated)."""
    if not url:
        return None
    match = _FBCLID.search(url.split("#", 1)[0])
    return match.group(1) if match and match.group(1) else None


def resolve_fbc(given: str | None, fbclid: str | None, now_ms: int, dropped: Dropped) -> str | None:
    """Keep a well-formed fbc for the same fbclid verbatim (appendix included); otherwise build
    ``fb.1.<first-seen-ms>.<fbclid>``. A given fbc is normalised once (``trackai.core.fbc.normalize_fbc``)."""
    given = _normalized("fbc", given, normalize_fbc, dropped)
    if fbclid and fbclid_from_fbc(given) != fbclid:
        return build_fbc(fbclid, now_ms)
    return given


def resolve_fbp(given: str | None, dropped: Dropped) -> str | None:
    return _normalized("fbp", given, normalize_fbp, dropped)


def _normalized(name: str, given: str | None, rule, dropped: Dropped) -> str | None:
    value, why = rule(given)
    if why:
        dropped.add(name, "normalised" if value else "invalid", why)
    return value


def click_fbclid(url: str | None, referrer: str | None, dropped: Dropped) -> str | None:
    """The landing URL's fbclid, else the referrer's (Meta's Parameter Builder reads both)."""
    return valid_fbclid(url, dropped) or valid_fbclid(referrer, dropped)


def valid_fbclid(url: str | None, dropped: Dropped) -> str | None:
    fbclid = raw_fbclid(url)
    if fbclid and not is_valid_fbclid(fbclid):
        dropped.add(
            "fbclid", "invalid", "the URL's fbclid has characters other than letters, digits, - and _"
        )
        return None
    return fbclid


def bounded_url(name: str, value: str | None, dropped: Dropped) -> str | None:
    """A URL within its size limit; over it, its scheme, host and path only, or nothing."""
    limit = SIZE_LIMITS[name]
    if not value or len(value) <= limit:
        return value
    try:
        parts = urlsplit(value)
        short = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    except ValueError:
        short = ""
    if short and len(short) <= limit:
        dropped.add(name, "shortened", f"longer than {limit} characters: query string left out")
        return short
    dropped.add(name, "too_long", f"longer than {limit} characters")
    return None


def bounded(name: str, value: str | None, dropped: Dropped) -> str | None:
    if value is not None and len(value) > SIZE_LIMITS[name]:
        dropped.add(name, "too_long", f"longer than {SIZE_LIMITS[name]} characters")
        return None
    return value


def utm_from_url(url: str | None) -> dict[str, str]:
    if not url:
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {k: v[:UTM_VALUE_LIMIT] for k, v in parse_qsl(query) if k in _UTM_KEYS and v}


@router.post(
    "/api/v1/track/click",
    status_code=202,
    summary="Record a landing click, pageview or lead",
    responses={
        202: {"description": '{"status": "accepted", "click_id": ..., "fbc": ..., "dropped": [...]}'},
        404: {"description": "unknown tenant"},
        408: {"description": "body not received in time"},
        413: {"description": "body too large"},
        422: {"description": "invalid click (the detail lists each field and what is wrong)"},
        429: {"description": "rate limit of the tenant, the address or the session exceeded (Retry-After)"},
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
    settings = app.settings
    try:
        body = await read_body(
            request, min(settings.max_body_bytes, BODY_LIMIT), settings.body_timeout_seconds
        )
    except (BodyTooLarge, BodyTimeout, ClientGone) as exc:
        _, status, detail = body_refusal(exc, BODY_LIMIT, settings.body_timeout_seconds)
        return JSONResponse({"detail": detail}, status_code=status, headers=CLOSE)
    try:
        click = ClickIn.model_validate_json(body or b"{}")
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    address = client_ip(request, app.trusted)
    limited = _visitor_limited(app, click, address)
    if limited:
        app.metrics.clicks_refused.labels(limited[0]).inc()
        return too_many(limited[1], limited[2])
    try:
        info = await app.store.tenant(click.tenant_id)
        if info is None or not info.active:
            return JSONResponse({"detail": "unknown tenant"}, status_code=404)
        now_ms = int(time.time() * 1000)
        dropped = Dropped()
        fbclid = click_fbclid(click.url, click.referrer, dropped)
        fbc = resolve_fbc(click.fbc, fbclid, now_ms, dropped)
        fbp = resolve_fbp(click.fbp, dropped)
        email = bounded("email", click.email, dropped)
        phone = bounded("phone", click.phone, dropped)
        params = {
            "tenant": click.tenant_id,
            "event_type": click.event_type,
            "session_id": click.session_id,
            "occurred_at": datetime.fromtimestamp(now_ms / 1000, tz=UTC),
            "landing_url": bounded_url("url", click.url, dropped),
            "referrer": bounded_url("referrer", click.referrer, dropped),
            "fbclid": fbclid or fbclid_from_fbc(fbc),
            "fbc": fbc,
            "fbp": fbp,
            "client_ip": address,
            "user_agent": (request.headers.get("user-agent") or "")[:1000] or None,
            "email_hash": hash_email(email),
            "phone_hash": hash_phone(phone),
            "external_id": bounded("external_id", click.external_id, dropped),
            "utm": utm_from_url(click.url),
        }
        params = _privacy_flags(app, info, click, params)
        is_lead = click.event_type == "lead"
        limit = settings.lead_rate_limit_per_min if is_lead else settings.click_rate_limit_per_min
        limited, click_id = await app.store.land_click(params, limit, "lead" if is_lead else "click")
    except DatabaseUnavailable:
        return unavailable()
    except RowRefused as exc:
        return JSONResponse({"detail": f"click has a value that cannot be stored: {exc}"}, status_code=422)
    if limited:
        app.metrics.clicks_refused.labels("tenant_limit").inc()
        log.debug("click rate limited", extra={"tenant_id": str(click.tenant_id), "status": 429})
        return too_many(limit)
    app.metrics.clicks.labels(click.event_type).inc()
    for item in dropped:
        app.metrics.click_fields_dropped.labels(item["field"], item["reason"]).inc()
    return JSONResponse(
        {"status": "accepted", "click_id": click_id, "fbc": fbc, "dropped": dropped}, status_code=202
    )


def _session_key(click: ClickIn) -> tuple[int, str]:
    """The per-session counter's key. Ints and strings only: the GC stops tracking such tuples, so a
    minute's worth of visitors (up to 100,000 keys) adds nothing to what a full collection scans
    (core/gc_pauses)."""
    return click.tenant_id.int, click.session_id


def _visitor_limited(app, click: ClickIn, address: str | None) -> tuple[str, int, str] | None:
    """(metric reason, budget, whose) when this address or session used up its budget this minute.
    Every attempt counts, so a flooding address stays limited for the rest of the minute while other
    visitors of the same tenant keep their share of the tenant's budget."""
    settings = app.settings
    where = (click.tenant_id.int, address_key(address))  # ints and strings: see _session_key
    if app.click_addresses.hit(where) > settings.click_rate_limit_per_address_per_min:
        return "address_limit", settings.click_rate_limit_per_address_per_min, "this address"
    if app.click_sessions.hit(_session_key(click)) > settings.click_rate_limit_per_session_per_min:
        return "session_limit", settings.click_rate_limit_per_session_per_min, "this session"
    if (
        click.event_type == "lead"
        and app.lead_addresses.hit(where) > settings.lead_rate_limit_per_address_per_min
    ):
        return "lead_address_limit", settings.lead_rate_limit_per_address_per_min, "leads from this address"
    return None


def _privacy_flags(app, info, click: ClickIn, params: dict) -> dict:
    """Issue 23: the bot reason (trackai.core.bots, on the real address and user agent) and, when the tenant
    requires consent and the click has none, the row without identifiers (trackai.core.consent)."""
    cfg = app.settings.privacy
    params["bot_reason"] = bots.classify(
        params["user_agent"],
        params["client_ip"],
        blocked_networks=info.privacy.blocked_networks,
        automation=bool(click.automation),
        session_clicks_this_minute=app.click_sessions.count(_session_key(click)),
        max_session_clicks_per_minute=cfg.bot_max_clicks_per_session_per_min,
    )
    params["consent_denied"] = False
    if consent.consent_denied(info.privacy.consent_required, click.consent):
        params = consent.without_identifiers(params)
    return params
