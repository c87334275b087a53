"""Per-app state (settings, store, metrics) and small request helpers shared by the routes."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse as _JSONResponse
from starlette.requests import ClientDisconnect

from ingest_service.core.limits import WindowCounter
from ingest_service.core.metrics import Metrics
from ingest_service.core.store import WINDOW_SECONDS, Store
from trackai.settings import Settings

if TYPE_CHECKING:
    from ingest_service.core.refusals import Refusals


class JSONResponse(_JSONResponse):
    """JSON answers rendered by orjson (one C call; the same bytes as Starlette's compact, non-ASCII
    rendering for what the routes answer: str keys, str/int/None/list values)."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


@dataclass
class AppState:
    settings: Settings
    store: Store
    metrics: Metrics
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    expected_migrations: frozenset[str]
    refusals: Refusals
    # Per-visitor click budgets (ingest_service.core.limits): by (tenant, address) and (tenant, session).
    click_addresses: WindowCounter = field(default_factory=WindowCounter)
    click_sessions: WindowCounter = field(default_factory=WindowCounter)
    lead_addresses: WindowCounter = field(default_factory=WindowCounter)
    metrics_port: int | None = None  # the internal /metrics listener, once started


def state(request: Request) -> AppState:
    return request.app.state.ingest


def parse_networks(value: str) -> tuple:
    nets = []
    for part in value.split(","):
        part = part.strip()
        if part:
            nets.append(ipaddress.ip_network(part, strict=False))
    return tuple(nets)


_CLIENT_IPS: dict[tuple, str | None] = {}
_CACHE_MAX = 20_000
_CACHED_HEADER_CHARS = 200


def client_ip(request: Request, trusted: tuple) -> str | None:
    """The peer address, or the nearest untrusted X-Forwarded-For hop when the peer is a trusted proxy.
    Answers are memoised per (peer, X-Forwarded-For, trusted networks): parsing addresses was ~5 % of a
    click's CPU (issue 21); the memo is bounded (cleared when full)."""
    client = request.scope.get("client")
    peer = client[0] if client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded is not None and len(forwarded) > _CACHED_HEADER_CHARS:
        return _client_ip(peer, forwarded, trusted)  # not memoised: the memo's size stays bounded
    key = (peer, forwarded, trusted)
    found = _CLIENT_IPS.get(key, _CLIENT_IPS)
    if found is not _CLIENT_IPS:
        return found  # type: ignore[return-value]
    if len(_CLIENT_IPS) >= _CACHE_MAX:
        _CLIENT_IPS.clear()
    address = _CLIENT_IPS[key] = _client_ip(peer, forwarded, trusted)
    return address


def _client_ip(peer: str | None, forwarded: str | None, trusted: tuple) -> str | None:
    def is_trusted(addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr) if addr else None
        except ValueError:
            return False
        return ip is not None and any(ip in net for net in trusted)

    if not is_trusted(peer):
        return _valid(peer)
    if not forwarded:
        return _valid(peer)
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return _valid(hop)
    return _valid(hops[0]) if hops else _valid(peer)


def _valid(addr: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(addr)) if addr else None
    except ValueError:
        return None


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    """The body did not arrive within ``body_timeout_seconds`` (a slow client)."""


class ClientGone(Exception):
    """The client hung up before its body was complete: nobody is left to answer."""


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The raw body, at most ``limit`` bytes (the declared length is checked before reading), within
    ``timeout`` seconds."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    receive = request.receive  # the ASGI messages themselves (Starlette's stream() adds a generator)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        raise BodyTooLarge
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except TimeoutError as exc:
        raise BodyTimeout from exc
    except ClientDisconnect as exc:
        raise ClientGone from exc


def body_refusal(exc: Exception, limit: int, timeout: float) -> tuple[str, int, str]:
    """(reason, status, detail) for a body that could not be read. ``Connection: close`` goes with
    them: the rest of that body is not worth reading."""
    if isinstance(exc, BodyTooLarge):
        return "body_too_large", 413, f"body larger than {limit} bytes"
    if isinstance(exc, BodyTimeout):
        return "body_timeout", 408, f"body not received within {timeout:g} s"
    # 499 (client closed request): a quiet 4xx-class outcome, never a 5xx; nobody reads the answer.
    return "client_disconnected", 499, "client disconnected before the body was complete"


CLOSE = {"Connection": "close"}


def retry_after_window() -> str:
    return str(max(1, math.ceil(WINDOW_SECONDS - (time.time() % WINDOW_SECONDS))))


def unavailable() -> JSONResponse:
    return JSONResponse(
        {"detail": "database unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
    )


def too_many(limit: int, per: str = "this tenant") -> JSONResponse:
    return JSONResponse(
        {"detail": f"rate limit exceeded ({limit} requests per minute for {per})"},
        status_code=429,
        headers={"Retry-After": retry_after_window()},
    )
