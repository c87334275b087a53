"""The six setup tools (issue 16): thin I/O around the pure decisions of ``trackai.core.setup_*``.

Each takes a :class:`SetupContext` (a database connection, the settings, optionally an httpx transport for
tests) and a tenant id, and returns a :class:`trackai.core.setup_result.ToolResult`. They never record
anything themselves except what the real paths record (``send_test_capi_event``: the attempt in
ops.dispatch_attempts, marked is_test, and the C1 gate; ``validate_meta_token``: debug_token's verdict in
ops.meta_token_status, as the token alarm's check does); the transcript, the failure streak and the support
case are written by :func:`trackai.setup.runner.run_tool`, the one entry point of the CLI, the console
wizard and the MCP server.
"""

from __future__ import annotations

import secrets as pysecrets
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import psycopg

from trackai import tenants
from trackai.core import pii, setup_landing, setup_snippet, setup_token, setup_webhook
from trackai.core import setup_result as sr
from trackai.core.capi.errors import ErrorClass
from trackai.core.capi.payload import build_purchase_event
from trackai.dispatch import policy, recording, store
from trackai.dispatch.breaker import Breaker
from trackai.dispatch.delivery import Clock, Deliverer, Destination
from trackai.dispatch.sender import Sender
from trackai.settings import Settings
from trackai.setup import gates

MAX_PAGE_BYTES = 2 * 1024 * 1024
USER_AGENT = "TrackAI-SetupProbe/1.0 (+https://trackai.com.br)"


class SetupInputError(ValueError):
    """Bad input (unknown tenant, missing argument): answered as a 4xx / exit 2, never a tool failure."""


@dataclass
class SetupContext:
    conn: psycopg.Connection
    settings: Settings
    transport: httpx.BaseTransport | None = None  # tests: an httpx transport for the Graph API calls
    actor: str = "operator"


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    name: str
    pixel_id: str
    test_event_code: str | None


def tenant_info(conn: psycopg.Connection, tenant_id: str) -> TenantInfo:
    try:
        tenant_id = str(uuid.UUID(str(tenant_id)))
    except ValueError as exc:
        raise SetupInputError(f"tenant id {str(tenant_id)[:40]!r} is not a UUID") from exc
    row = conn.execute(
        "SELECT tenant_id::text, name, pixel_id, test_event_code FROM core.tenants WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    if row is None:
        raise SetupInputError(f"unknown tenant {tenant_id}")
    values = tuple(row.values()) if isinstance(row, dict) else tuple(row)
    return TenantInfo(*values)


def _graph(settings: Settings) -> str:
    return f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_api_version.strip('/')}"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


# ------------------------------------------------------------------------------------- validate_meta_token
def validate_meta_token(ctx: SetupContext, tenant_id: str) -> sr.ToolResult:
    tenant = tenant_info(ctx.conn, tenant_id)
    token = tenants.get_secret(ctx.conn, tenant.tenant_id, "meta_token")
    if not token:
        return sr.result("validate_meta_token", "no_token", {"pixel_id": tenant.pixel_id})
    base = _graph(ctx.settings)
    try:
        with httpx.Client(timeout=ctx.settings.capi.timeout_seconds * 4, transport=ctx.transport) as client:
            debug = client.get(f"{base}/debug_token", params={"input_token": token, "access_token": token})
            pixel = client.get(
                f"{base}/{tenant.pixel_id}", params={"fields": "id,name", "access_token": token}
            )
        debug_data = debug.json().get("data") or debug.json()
        if "error" in debug.json() and not debug.json().get("data"):
            error = debug.json()["error"]
            debug_data = {"is_valid": False, "error": {**error, "subcode": error.get("error_subcode")}}
        pixel_data = pixel.json()
    except (httpx.HTTPError, ValueError) as exc:
        return sr.result(
            "validate_meta_token",
            "graph_unreachable",
            {
                "pixel_id": tenant.pixel_id,
                "graph_error": f"{type(exc).__name__}: {exc}"[:300],
                "graph_url": base,
            },
        )
    result = setup_token.judge_token(debug_data, pixel_data, pixel_id=tenant.pixel_id, now=time.time())
    # the account card and the token alarm read the same verdict (ops.meta_token_status)
    error = debug_data.get("error") or {}
    store.record_debug_token(
        ctx.conn,
        tenant.tenant_id,
        valid=bool(debug_data.get("is_valid")),
        expires_at=int(debug_data.get("expires_at") or 0),
        message=f"setup assistant: {result.code}",
        error_code=error.get("code") if isinstance(error, dict) else None,
    )
    return result


# -------------------------------------------------------------------------------- validate_gateway_webhook
def _webhook_seen(ctx: SetupContext, tenant: TenantInfo, gateway: str) -> setup_webhook.WebhookSeen:
    conn, window = ctx.conn, ctx.settings.setup.webhook_window_hours
    seen = setup_webhook.WebhookSeen(
        gateway=gateway,
        tenant_id=tenant.tenant_id,
        webhook_url=tenants.webhook_url(tenant.tenant_id, gateway, ctx.settings),
        window_hours=window,
        secret_present=tenants.get_secret(conn, tenant.tenant_id, gateway) is not None,
        tolerance_s=int(ctx.settings.stripe_tolerance_seconds),
    )
    since = "now() - make_interval(secs => %s)"
    args = (tenant.tenant_id, gateway, window * 3600)
    verified, last_verified = _row(
        conn,
        f"""SELECT count(*), max(received_at) FROM landing.webhook_events
             WHERE tenant_id = %s AND gateway = %s AND received_at > {since}""",
        args,
    )
    seen.verified, seen.last_verified_at = int(verified), _iso(last_verified)
    last_refused = None
    for reason, hits, last in conn.execute(
        f"""SELECT reason, sum(hits)::int, max(created_at) FROM landing.webhook_rejections
             WHERE tenant_id = %s AND gateway = %s AND created_at > {since} GROUP BY reason""",
        args,
    ).fetchall():
        seen.refusals[reason] = hits
        last_refused = max(last_refused or last, last)
    seen.last_refused_at = _iso(last_refused)
    if last_verified is not None:
        for reason, hits in conn.execute(
            """SELECT reason, sum(hits)::int FROM landing.webhook_rejections
                WHERE tenant_id = %s AND gateway = %s AND created_at >= date_trunc('minute', %s) + interval '1 minute'
                GROUP BY reason""",
            (tenant.tenant_id, gateway, last_verified),
        ).fetchall():
            seen.reasons_since_verified[reason] = hits
        seen.refused_since_verified = sum(seen.reasons_since_verified.values())
    quarantined, last_error = _row(
        conn,
        f"""SELECT count(*), (array_agg(error ORDER BY received_at DESC))[1] FROM landing.webhook_quarantine
             WHERE tenant_id = %s AND gateway = %s AND received_at > {since}""",
        args,
    )
    seen.quarantined, seen.quarantine_error = int(quarantined), last_error
    for reason, hits in conn.execute(
        f"""SELECT reason, sum(hits)::int FROM landing.webhook_rejections
             WHERE tenant_id IS NULL AND gateway = %s AND created_at > {since} GROUP BY reason""",
        (gateway, window * 3600),
    ).fetchall():
        if reason == "unknown_tenant":
            seen.unknown_refused = hits
        else:
            seen.unattributed[reason] = hits
    return seen


def _row(conn: psycopg.Connection, sql: str, params: tuple) -> tuple:
    row = conn.execute(sql, params).fetchone()
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _fingerprint(seen: setup_webhook.WebhookSeen) -> tuple:
    return (
        seen.verified,
        seen.last_verified_at,
        sum(seen.refusals.values()),
        seen.quarantined,
        seen.unknown_refused,
        sum(seen.unattributed.values()),
    )


def validate_gateway_webhook(
    ctx: SetupContext, tenant_id: str, gateway: str, wait_seconds: float | None = None
) -> sr.ToolResult:
    """What the endpoint received lately; with ``wait_seconds`` > 0, first waits (polling once a second) for
    the seller's test delivery: anything new (verified, refused or quarantined) ends the wait."""
    tenant = tenant_info(ctx.conn, tenant_id)
    if gateway not in setup_webhook.GATEWAY_NAMES:
        return setup_webhook.judge_webhook(setup_webhook.WebhookSeen(gateway, tenant.tenant_id, "", 0, False))
    wait = ctx.settings.setup.webhook_wait_seconds if wait_seconds is None else float(wait_seconds)
    seen = _webhook_seen(ctx, tenant, gateway)
    waited, started = False, time.monotonic()
    if wait > 0:
        before = _fingerprint(seen)
        while time.monotonic() - started < wait:
            time.sleep(min(1.0, max(0.05, wait - (time.monotonic() - started))))
            seen = _webhook_seen(ctx, tenant, gateway)
            if _fingerprint(seen) != before:
                waited = True
                break
    result = setup_webhook.judge_webhook(seen)
    result.observed["waited_s"] = round(time.monotonic() - started, 1) if wait > 0 else 0
    result.observed["new_delivery_seen"] = waited
    return result


# --------------------------------------------------------------------------------------- landing probes
def _ssl_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.setup.probe_ca_file:
        context.load_verify_locations(cafile=str(settings.setup.probe_ca_file))
    return context


def _certificate_detail(url: str, timeout: float) -> tuple[str, str]:
    """Issuer and validity of the certificate a host presents, read without verifying it (pt-BR, English)."""
    from cryptography import x509

    parts = urlsplit(url)
    try:
        pem = ssl.get_server_certificate((parts.hostname, parts.port or 443), timeout=timeout)
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (OSError, ValueError):
        return "", ""
    not_after = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    issuer = cert.issuer.rfc4514_string()
    own = cert.issuer == cert.subject
    return (
        f" (válido até {not_after}; emissor {issuer}{', autoassinado' if own else ''})",
        f" (valid until {not_after}; issuer {issuer}{', self-signed' if own else ''})",
    )


def _tls_failure(exc: BaseException) -> str | None:
    text = str(exc)
    while exc is not None and not isinstance(exc, ssl.SSLError):
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return text.split("] ", 1)[-1][:200]
    return None


def _with_probe_params(url: str) -> tuple[str, list[str]]:
    """The URL with a made-up fbclid and utm_source when absent, so their survival can be checked."""
    parts = urlsplit(url)
    present = setup_landing.tracked(url)
    extra = {}
    if "fbclid" not in present:
        extra["fbclid"] = "TrackAIprobe" + pysecrets.token_hex(6)
    if not any(k.startswith("utm_") for k in present):
        extra["utm_source"] = "trackai_probe"
    if not extra:
        return url, []
    query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)), list(extra)


def probe_landing_url(ctx: SetupContext, tenant_id: str, url: str) -> sr.ToolResult:
    tenant_info(ctx.conn, tenant_id)
    tool = "probe_landing_url"
    if not setup_landing.valid_url(url):
        return sr.result(tool, "invalid_url", {"url": url})
    probe_url, added = _with_probe_params(url)
    settings = ctx.settings.setup
    hops: list[setup_landing.Hop] = []
    current = probe_url
    with httpx.Client(
        verify=_ssl_context(ctx.settings),
        timeout=settings.probe_timeout_seconds,
        follow_redirects=False,
        headers={"user-agent": USER_AGENT},
    ) as client:
        while len(hops) < settings.probe_max_hops:
            started = time.perf_counter()
            try:
                response = client.get(current)
            except httpx.HTTPError as exc:
                host = urlsplit(current).hostname
                tls = _tls_failure(exc)
                observed = {
                    "url": current,
                    "host": host,
                    "hops": [h.__dict__ for h in hops],
                    "added_params": added,
                }
                if tls:
                    pt, en = _certificate_detail(current, settings.probe_timeout_seconds)
                    return sr.result(
                        tool,
                        "tls_invalid",
                        {**observed, "tls_error": tls, "tls_detail": pt, "tls_detail_en": en},
                    )
                return sr.result(
                    tool, "unreachable", {**observed, "error": f"{type(exc).__name__}: {exc}"[:300]}
                )
            elapsed = int((time.perf_counter() - started) * 1000)
            location = response.headers.get("location") if response.is_redirect else None
            hops.append(setup_landing.Hop(current, response.status_code, location, elapsed))
            target = setup_landing.next_url(hops[-1])
            if target is None:
                break
            current = target
    result = setup_landing.judge_hops(probe_url, hops, max_hops=settings.probe_max_hops)
    result.observed["added_params"] = added
    return result


def check_pixel_presence(ctx: SetupContext, tenant_id: str, url: str) -> sr.ToolResult:
    tenant = tenant_info(ctx.conn, tenant_id)
    tool = "check_pixel_presence"
    if not setup_landing.valid_url(url):
        return sr.result(tool, "fetch_failed", {"url": url, "error": "not an http(s) URL"})
    settings = ctx.settings.setup
    try:
        with httpx.Client(
            verify=_ssl_context(ctx.settings),
            timeout=settings.probe_timeout_seconds,
            follow_redirects=True,
            max_redirects=settings.probe_max_hops,
            headers={"user-agent": USER_AGENT},
        ) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        error = _tls_failure(exc) or f"{type(exc).__name__}: {exc}"
        return sr.result(tool, "fetch_failed", {"url": url, "error": str(error)[:300]})
    if response.status_code >= 400:
        return sr.result(tool, "fetch_failed", {"url": url, "error": f"HTTP {response.status_code}"})
    html = response.content[:MAX_PAGE_BYTES].decode(response.encoding or "utf-8", errors="replace")
    src = setup_snippet.snippet_src(tenant.tenant_id, ctx.settings.public_base_url, None)
    return setup_landing.judge_page(
        html, url=str(response.url), pixel_id=tenant.pixel_id, tenant_id=tenant.tenant_id, snippet_src=src
    )


# ------------------------------------------------------------------------------------ send_test_capi_event
TEST_GATEWAY = "setup_test"


def _test_purchase(tenant_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    """A made-up purchase of R$ 1,00 with a hashed test e-mail: built by the real payload builder."""
    return {
        "event_id": event_id,
        "tenant_id": tenant_id,
        "gateway": TEST_GATEWAY,
        "order_id": event_id,
        "approved_at": now,
        "amount": 1.0,
        "currency": "BRL",
        "product_id": "trackai-setup-test",
        "email_hash": pii.hash_email(f"setup-test+{tenant_id[:8]}@trackai.invalid"),
        "phone_hash": None,
        "session_id": None,
        "fbc": None,
        "fbp": None,
        "client_ip": None,
        "user_agent": None,
    }


def send_test_capi_event(
    ctx: SetupContext, tenant_id: str, test_event_code: str | None = None
) -> sr.ToolResult:
    """A test Purchase through the real dispatch path: payload builder, the same preparation, sender,
    classification and recording (ops.dispatch_attempts, is_test) — with Meta's test_event_code. Passes only
    when the Graph API answers events_received >= 1; the pass is recorded as the C1 gate."""
    tool = "send_test_capi_event"
    tenant = tenant_info(ctx.conn, tenant_id)
    code = (test_event_code or tenant.test_event_code or ctx.settings.setup.test_event_code or "").strip()
    base: dict[str, Any] = {"pixel_id": tenant.pixel_id, "test_event_code": code or None}
    if not code:
        return sr.result(tool, "no_test_code", base)
    token = tenants.get_secret(ctx.conn, tenant.tenant_id, "meta_token")
    if not token:
        return sr.result(tool, "no_token", base)
    now = time.time()
    event_id = f"setup-test-{uuid.uuid4().hex[:16]}"
    payload = build_purchase_event(
        _test_purchase(tenant.tenant_id, event_id, datetime.fromtimestamp(now, UTC))
    )
    prepared = policy.prepare(payload, now)
    event = store.QueuedEvent(
        event_id, tenant.tenant_id, TEST_GATEWAY, tenant.pixel_id, prepared.payload, 0, now + 600
    )
    options = policy.DispatchOptions(backoff_seconds=(1.0,), batch_size=1)
    sender = Sender(
        ctx.settings.meta_graph_url,
        ctx.settings.meta_api_version,
        timeout_seconds=ctx.settings.capi.timeout_seconds * 2,
        max_connections=1,
        transport=ctx.transport,
    )
    received: list[int | None] = []
    try:
        deliverer = Deliverer(
            sender,
            options,
            Clock(None, time.sleep),
            after_send=lambda p, e, r: received.append(r.events_received),
        )
        outcome = deliverer.send_batch(
            Destination(tenant.tenant_id, tenant.pixel_id, token, code),
            [event],
            Breaker(tenant.tenant_id, tenant.pixel_id),
        )
    finally:
        sender.close()
    changes = recording.outcome_changes(
        outcome, now=time.time(), retry_later_seconds=options.retry_later_seconds
    )
    with ctx.conn.transaction():
        store.write_attempts(ctx.conn, changes.attempts, store.utc(time.time()))
    last = outcome.attempts[-1].result if outcome.attempts else None
    error = last.error if last else None
    observed = {
        **base,
        "event_id": event_id,
        "attempts": len(outcome.attempts),
        "events_received": received[-1] if received else None,
        "http_status": error.http_status if error else None,
        "error_code": error.code if error else None,
        "error_subcode": error.subcode if error else None,
        "error_message": (error.user_msg or error.message) if error else "not sent",
        "fbtrace_id": error.fbtrace_id if error else None,
        "payload": prepared.payload,
    }
    if error is None or error.error_class is ErrorClass.RETRYABLE:
        return sr.result(tool, "graph_unavailable", observed, event_id)
    if error.error_class is ErrorClass.AUTH:
        return sr.result(tool, "token_invalid", observed, event_id)
    if error.error_class is ErrorClass.PERMISSION:
        return sr.result(tool, "pixel_not_accessible", observed, event_id)
    if error.error_class is ErrorClass.BAD_EVENT:
        return sr.result(tool, "event_refused", observed, event_id)
    if not (observed["events_received"] or 0) >= 1:
        return sr.result(tool, "not_received", observed, event_id)
    gates.record_pass(
        ctx.conn,
        tenant.tenant_id,
        "test_capi_event",
        event_id,
        ctx.actor,
        {
            "events_received": observed["events_received"],
            "fbtrace_id": observed["fbtrace_id"],
            "test_event_code": code,
        },
    )
    return sr.result(tool, "ok", observed, event_id)


# ------------------------------------------------------------------------------- generate_tracking_snippet
def generate_tracking_snippet(ctx: SetupContext, tenant_id: str, platform: str = "html") -> sr.ToolResult:
    tenant = tenant_info(ctx.conn, tenant_id)
    return setup_snippet.snippet_answer(tenant.tenant_id, ctx.settings.public_base_url, platform)
