"""uvicorn's httptools protocol with the limits it lacks: request-head size and read deadlines.

uvicorn (httptools) buffers a request head of any size and has no deadline for reading it or the body:
a 32 MiB header was accepted, four unfinished ones grew a worker by 190 MB, and a socket that sends one
byte every few seconds stayed open indefinitely (issue 22, finding 6). This subclass:

- answers 431 and closes when the request line plus headers exceed ``max_header_bytes``;
- answers 408 and closes when a request head is not complete ``header_timeout_seconds`` after the
  connection opened or the previous response finished (a slow-header client);
- closes a connection whose body is still arriving ``body_timeout_seconds`` (+ a margin) after its
  head: the routes answer 408 themselves at ``body_timeout_seconds``; this is the backstop for routes
  that never read the body.

``trackai serve`` selects it with ``http="ingest_service.core.http_guard:GuardedHttpToolsProtocol"``
(an import string, so spawned workers load it too); the limits come from Settings. It is not a
replacement for the fronting proxy's own limits (docs/go-live.md).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from trackai.settings import get_settings

BODY_BACKSTOP_MARGIN = 5.0


def _raw_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_head = settings.max_header_bytes
        self._head_timeout = settings.header_timeout_seconds
        self._body_timeout = settings.body_timeout_seconds + BODY_BACKSTOP_MARGIN
        self._in_head = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    # --- deadlines -----------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._in_head:
            if cycle is None or cycle.response_complete:  # never cut a response still being written
                self._refuse(408, "Request Timeout", "request head not received in time")
        elif cycle is None or not cycle.response_started:
            self._refuse(408, "Request Timeout", "request body not received in time")
        else:
            self.transport.close()  # answered already; the rest of the body is not worth waiting for

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._disarm()
        self.transport.write(_raw_response(status, reason, detail))
        self.transport.close()

    # --- protocol and parser callbacks ------------------------------------------------------------

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted per chunk, judged after parsing: a chunk that also holds a body is not held against
        # the head once the parser has seen the head end.
        if self._in_head and self._head_bytes > self._max_head and not self.transport.is_closing():
            self._refuse(431, "Request Header Fields Too Large", f"request head over {self._max_head} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self._body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_head and not self.transport.is_closing():
            self._arm(self._head_timeout)  # the next request's head (the keep-alive timer may close first)
