"""One loopback HTTP receiver for tests: records every request (PagerDuty/Slack/alert webhooks, a Sentry
ingest, a fake Graph API endpoint) and answers with a fixed reply or a ``respond`` callable.

Served by ``trackai_cli.loopback_server.LoopbackServer`` (uvicorn in a thread, 127.0.0.1 only)::

    with LoopbackReceiver() as receiver:
        post_somewhere(f"{receiver.url}/hook")
        receiver.wait_for(1)
        assert receiver.json_bodies("/hook") == [...]

The fixture ``http_receiver`` (tests/conftest.py) gives a started one per test.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import parse_qs

from trackai_cli.loopback_server import LoopbackServer


@dataclass
class Recorded:
    """One request as it arrived: method, path, decoded query, headers (lower-case), body, arrival time."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def target(self) -> str:
        """Path plus raw query string, as a handler's ``self.path`` was."""
        raw = "&".join(f"{k}={v}" for k, values in self.query.items() for v in values)
        return f"{self.path}?{raw}" if raw else self.path

    def json(self) -> object:
        return json.loads(self.body or b"{}")


@dataclass(frozen=True)
class Reply:
    status: int = 202
    body: bytes | dict | list = b'{"status":"success"}'
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":  # pragma: no cover - only if a client picks brotli
        import brotli

        return brotli.decompress(body)
    return body


class LoopbackReceiver:
    """Records requests; ``respond(request) -> Reply`` overrides the fixed ``reply`` per request."""

    def __init__(
        self, reply: Reply | None = None, respond: Callable[[Recorded], Reply] | None = None
    ) -> None:
        self.reply = reply or Reply()
        self.respond = respond
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._app)
        self._server.name = "loopback-receiver"
        self.url = self._server.url

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=parse_qs(scope["query_string"].decode("latin-1")),
            headers=headers,
            body=_decoded(b"".join(chunks), headers.get("content-encoding", "")),
        )
        with self._lock:
            self.requests.append(request)
        reply = self.respond(request) if self.respond else self.reply
        body = reply.encoded()
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", reply.content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    # --- reading what arrived -----------------------------------------------------------------------
    def received(self, path: str | None = None, method: str | None = "POST") -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    def json_bodies(self, path: str | None = None) -> list:
        return [r.json() for r in self.received(path)]

    def wait_for(self, count: int = 1, path: str | None = None, timeout: float = 10.0) -> list[Recorded]:
        """Wait until ``count`` POSTs (to ``path``) arrived; returns them, or raises AssertionError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(
            f"{count} POST(s) to {path or 'any path'} expected, got {len(self.received(path))}"
        )

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
