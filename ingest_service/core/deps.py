"""Per-app state (settings, store, metrics) and small request helpers shared by the routes."""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse

from ingest_service.core.metrics import Metrics
from ingest_service.core.store import WINDOW_SECONDS, Store
from trackai.settings import Settings


@dataclass
class AppState:
    settings: Settings
    store: Store
    metrics: Metrics
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    expected_migrations: frozenset[str]


def state(request: Request) -> AppState:
    return request.app.state.ingest


def parse_networks(value: str) -> tuple:
    nets = []
    for part in value.split(","):
        part = part.strip()
        if part:
            nets.append(ipaddress.ip_network(part, strict=False))
    return tuple(nets)


def client_ip(request: Request, trusted: tuple) -> str | None:
    """The peer address, or the nearest untrusted X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = request.client.host if request.client else None

    def is_trusted(addr: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(addr) if addr else None
        except ValueError:
            return False
        return ip is not None and any(ip in net for net in trusted)

    if not is_trusted(peer):
        return _valid(peer)
    forwarded = request.headers.get("x-forwarded-for")
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


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise BodyTooLarge
    return bytes(chunks)


def retry_after_window() -> str:
    return str(max(1, math.ceil(WINDOW_SECONDS - (time.time() % WINDOW_SECONDS))))


def unavailable() -> JSONResponse:
    return JSONResponse(
        {"detail": "database unavailable; retry later"}, status_code=503, headers={"Retry-After": "5"}
    )


def too_many(limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"rate limit exceeded ({limit} requests per minute for this tenant)"},
        status_code=429,
        headers={"Retry-After": retry_after_window()},
    )
