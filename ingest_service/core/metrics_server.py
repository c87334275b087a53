"""The internal ``/metrics`` listener: its own socket on ``TRACKAI_METRICS_HOST`` (loopback by default),
never the public ingest port, so refusal counts and traffic shapes are not published to the internet.

One listener per worker process: worker k of ``trackai serve --workers N`` binds the first free port
from ``TRACKAI_METRICS_PORT`` upward, so Prometheus scrapes ports PORT … PORT+N-1 (docs/go-live.md).
A listener that cannot bind is logged and the service keeps serving; the scrape's ``up == 0`` then
fires ``TrackAIIngestDown``.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ingest_service.core.logging import log

PORTS_TRIED = 16  # workers per host that can each get their own port
_REQUEST_LIMIT = 8192
_READ_TIMEOUT = 5.0


async def start(registry: CollectorRegistry, host: str, port: int) -> asyncio.Server | None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method == b"GET" and path == b"/metrics":
                status, content_type, body = (
                    b"200 OK",
                    CONTENT_TYPE_LATEST.encode(),
                    generate_latest(registry),
                )
            else:
                status, content_type, body = b"404 Not Found", b"text/plain", b"only GET /metrics here\n"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + content_type
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    candidates = [0] if port == 0 else range(port, port + PORTS_TRIED)
    for candidate in candidates:
        try:
            return await asyncio.start_server(handle, host, candidate, limit=_REQUEST_LIMIT)
        except OSError:
            continue
    log.error(f"metrics listener not started: no free port on {host} from {port} (+{PORTS_TRIED - 1})")
    return None


def bound_port(server: asyncio.Server | None) -> int | None:
    return server.sockets[0].getsockname()[1] if server and server.sockets else None
