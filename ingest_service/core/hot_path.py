"""The two hot paths (``POST /api/v1/webhooks/{gateway}/{tenant_id}``, ``POST /api/v1/track/click``) as
one plain ASGI layer, in front of the FastAPI stack (issue 21).

Profiles showed the framework around the handlers costing more than the handlers: seven middleware
layers (ServerError, FastAPI's telemetry and body limit, metrics, CORS, exception, exit stack), the
router's matching and FastAPI's dependency solving, per request. Here the path is matched with two string
tests and the handler (the same function FastAPI documents and routes: ``routes/webhooks.py``,
``routes/track.py``) is called directly. What those layers did for these routes is done here, once:

- metrics: ``trackai_ingest_requests`` by route template, gateway label and status, and the latency
  histogram, exactly as ``MetricsMiddleware`` counts them (label children cached);
- CORS (``allow_origins=["*"]``, no credentials): ``Access-Control-Allow-Origin: *`` when the request
  has an Origin, ``Vary: Origin`` always, as Starlette's CORSMiddleware answers a simple request;
  preflights (OPTIONS) still go through the FastAPI stack;
- an unhandled exception answers 500 (counted), is reported to Sentry when it is on (the Starlette
  integration only sees the FastAPI stack; tests/foundation/test_observability.py), and is re-raised
  for the server's log, as ServerErrorMiddleware does.

Body caps (413), deadlines (408), slow clients and refusal counting live in the handlers and in
``http_guard`` (431, head deadline), so they are unchanged. Everything else (GET, OPTIONS, docs, health,
snippet, unknown paths, wrong methods) goes to FastAPI as before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import sentry_sdk
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ingest_service.core.metrics import Metrics, gateway_label

WEBHOOK_TEMPLATE = "/api/v1/webhooks/{gateway}/{tenant_id}"
CLICK_TEMPLATE = "/api/v1/track/click"
_WEBHOOK_PREFIX = "/api/v1/webhooks/"
_ORIGIN = b"origin"
_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
_VARY = b"vary"
_ERROR_BODY = b"Internal Server Error"

Handler = Callable[..., Awaitable[Response]]


class HotPath:
    """Serves the hot routes of ``app`` (its ``state.ingest`` and handlers); returns False otherwise."""

    def __init__(self, metrics: Metrics, webhook: Handler, click: Handler) -> None:
        self.metrics = metrics
        self.webhook = webhook
        self.click = click
        self._requests: dict[tuple[str, str, int], object] = {}
        self._latency = {t: metrics.latency.labels(t) for t in (WEBHOOK_TEMPLATE, CLICK_TEMPLATE)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        path: str = scope["path"]
        if path == CLICK_TEMPLATE:
            template, gateway = CLICK_TEMPLATE, ""
            call = self.click
            args: tuple = ()
        elif path.startswith(_WEBHOOK_PREFIX):
            parts = path[len(_WEBHOOK_PREFIX) :].split("/")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                return False  # FastAPI answers (404), as before
            template, gateway = WEBHOOK_TEMPLATE, gateway_label(parts[0])
            call = self.webhook
            args = (parts[0], parts[1])
        else:
            return False
        started = time.perf_counter()
        status = 500  # unless a response starts
        try:
            response = await call(*args, Request(scope, receive))
            headers = response.raw_headers
            if any(name == _VARY for name, _ in headers):
                headers = _vary_appended(headers)
            else:
                headers = [*headers, (_VARY, b"Origin")]
            if _has_origin(scope):
                headers.append(_ALLOW_ORIGIN)
            status = response.status_code
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
        except Exception as exc:
            if status == 500:  # nothing sent yet
                await _server_error(send)
            if sentry_sdk.is_initialized():
                sentry_sdk.capture_exception(exc)
            raise
        finally:
            key = (template, gateway, status)
            child = self._requests.get(key)
            if child is None:
                child = self._requests[key] = self.metrics.requests.labels(template, gateway, str(status))
            child.inc()
            self._latency[template].observe(time.perf_counter() - started)
        return True


def _has_origin(scope: Scope) -> bool:
    return any(name == _ORIGIN for name, _ in scope["headers"])


def _vary_appended(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """CORSMiddleware's ``Vary``: the response's own values, then Origin, in one header."""
    values = [v.decode("latin-1") for n, v in headers if n == _VARY]
    kept = [(n, v) for n, v in headers if n != _VARY]
    return [*kept, (_VARY, ", ".join([*values, "Origin"]).encode("latin-1"))]


async def _server_error(send: Send) -> None:
    """500 as ServerErrorMiddleware answers it, when nothing was sent yet (else the server closes)."""
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-length", str(len(_ERROR_BODY)).encode()),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _ERROR_BODY})
    except Exception:  # noqa: S110 - the response had started; the server closes the connection
        pass
