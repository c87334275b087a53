"""The fake Graph API: ``POST /{version}/{pixel_id}/events`` and ``GET /{version}/debug_token``.

Enforces the contract of meta_capi.md: at most 1,000 events, required fields, 7-day/future window,
64-hex em/ph, fbc shape, baseline matching combos, known token -> otherwise Meta's error body
(code 100 + subcode, or 190), and the whole batch is refused. Success returns
``{events_received, messages, fbtrace_id}`` and records the accepted events.

Fault injection (drawn once per request, in this order, from a seeded RNG): ``timeout_rate`` (sleeps
``timeout_seconds`` then answers 504), ``fail_rate`` (HTTP 500, code 2, transient), ``throttle_rate``
(HTTP 400, code 17), plus ``latency_ms`` added to every request with ``asyncio.sleep``.

Control endpoints (not part of Graph): ``GET /_mock/accepted`` (events, optional ``?pixel_id=``),
``GET /_mock/stats``, ``POST /_mock/reset``, ``POST /_mock/config`` (JSON with any MockConfig field,
e.g. ``{"revoked_tokens": ["t"], "reject_event_ids": ["..."]}``). Accepted events are also appended
to ``record_file`` (JSON lines) when set.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackai.core.capi import validate
from trackai_cli.capi_mock import dataset_quality  # GET /{version}/dataset_quality (seller console)


@dataclass
class MockConfig:
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 5.0
    latency_ms: float = 0.0
    seed: int | None = None
    tokens: list[str] | None = None  # None: any non-empty token not revoked is valid
    revoked_tokens: list[str] = field(default_factory=list)
    expiring_tokens: dict[str, int] = field(default_factory=dict)  # token -> expires_at (unix)
    reject_event_ids: list[str] = field(default_factory=list)  # refused with code 100; "x*" = prefix
    # setup assistant (issue 16): debug_token scopes, which pixels a token may use, test_event_code handling
    token_scopes: dict[str, list[str]] = field(default_factory=dict)  # token -> scopes (default: both below)
    token_pixels: dict[str, list[str]] = field(default_factory=dict)  # token -> pixels it may read/send to
    test_events_received: int | None = None  # answer this events_received to requests with a test code
    record_file: str | None = None
    keep_events: bool = True  # False: count only (benchmarks)


class MockState:
    """What the fake accepted; thread-safe so tests can read it while the server runs."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.rng = random.Random(self.config.seed)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: list[dict] = []  # one entry per accepted request (without events)
            self.events: list[dict] = []  # accepted events, each with "_pixel_id"/"_test_event_code"
            self.events_received = 0
            self.test_events_received = 0
            self.event_id_counts: dict[str, int] = {}
            self.responses: dict[str, int] = {}

    def configure(self, **changes: object) -> None:
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise KeyError(key)
                setattr(self.config, key, value)
            if "seed" in changes:
                self.rng = random.Random(self.config.seed)

    def token_valid(self, token: str | None) -> bool:
        if not token or token in self.config.revoked_tokens:
            return False
        return self.config.tokens is None or token in self.config.tokens

    def token_expired(self, token: str | None, now: float) -> bool:
        expires_at = int(self.config.expiring_tokens.get(token or "", 0))
        return bool(expires_at) and expires_at <= now

    def pixel_allowed(self, token: str | None, pixel_id: str) -> bool:
        allowed = self.config.token_pixels.get(token or "")
        return pixel_id.isdigit() and (allowed is None or pixel_id in allowed)

    def accepted_event_ids(self) -> list[str]:
        with self.lock:
            return [e.get("event_id") for e in self.events]

    def duplicates(self) -> dict[str, int]:
        with self.lock:
            return {k: v for k, v in self.event_id_counts.items() if v > 1}

    def stats(self) -> dict:
        with self.lock:
            return {
                "requests_accepted": len(self.requests),
                "events_received": self.events_received,
                "distinct_event_ids": len(self.event_id_counts),
                "duplicate_event_ids": sum(1 for v in self.event_id_counts.values() if v > 1),
                "test_events_received": self.test_events_received,
                "responses": dict(self.responses),
            }

    def _count(self, kind: str) -> None:
        with self.lock:
            self.responses[kind] = self.responses.get(kind, 0) + 1

    def record(self, pixel_id: str, events: list[dict], test_event_code: str | None, trace: str) -> None:
        now = time.time()
        with self.lock:
            self.requests.append(
                {"pixel_id": pixel_id, "events": len(events), "fbtrace_id": trace, "received_at": now}
            )
            self.events_received += len(events)
            if test_event_code:
                self.test_events_received += len(events)
            for event in events:
                key = event.get("event_id")
                self.event_id_counts[key] = self.event_id_counts.get(key, 0) + 1
            if self.config.keep_events:
                for event in events:
                    event["_pixel_id"] = pixel_id
                    event["_test_event_code"] = test_event_code
                self.events.extend(events)
            record_file = self.config.record_file
        if record_file:
            with Path(record_file).open("a", encoding="utf-8") as handle:
                for event in events:
                    handle.write(json.dumps({"pixel_id": pixel_id, "event": event}) + "\n")


def _pixel_refused(pixel_id: str, verb: str) -> JSONResponse:
    return graph_error(
        400,
        100,
        f"Unsupported {verb} request. Object with ID '{pixel_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )


def _trace() -> str:
    return "Fake" + secrets.token_urlsafe(8)


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    title: str | None = None,
    user_msg: str | None = None,
    error_type: str = "OAuthException",
    transient: bool = False,
) -> JSONResponse:
    error: dict[str, object] = {
        "message": message,
        "type": error_type,
        "code": code,
        "is_transient": transient,
        "fbtrace_id": _trace(),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if title:
        error["error_user_title"] = title
    if user_msg:
        error["error_user_msg"] = user_msg
    return JSONResponse({"error": error}, status_code=status)


async def _read_request(request: Request) -> tuple[dict, str | None]:
    """Body as a dict (JSON or form-encoded with ``data`` as a JSON string) and the access token."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    body: dict = {}
    if raw:
        if "application/x-www-form-urlencoded" in content_type:
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
            body = dict(form)
            if isinstance(body.get("data"), str):
                body["data"] = json.loads(body["data"])
        else:
            body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("body must be an object")
    data = body.get("data")
    if isinstance(data, list):  # the SDK sends each event as a JSON string
        body["data"] = [json.loads(e) if isinstance(e, str) else e for e in data]
    token = request.query_params.get("access_token") or body.get("access_token")
    return body, token


def create_app(state: MockState | None = None) -> Starlette:
    state = state or MockState()

    async def events(request: Request) -> Response:
        config = state.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        with state.lock:
            draw = state.rng.random()
        if draw < config.timeout_rate:
            state._count("timeout")
            await asyncio.sleep(config.timeout_seconds)
            return Response("<html><body>Gateway Timeout</body></html>", status_code=504)
        draw -= config.timeout_rate
        if draw < config.fail_rate:
            state._count("5xx")
            return graph_error(
                500, 2, "An unexpected error has occurred. Please retry your request later.", transient=True
            )
        draw -= config.fail_rate
        if draw < config.throttle_rate:
            state._count("throttled")
            return graph_error(400, 17, "User request limit reached", transient=False)
        try:
            body, token = await _read_request(request)
        except (ValueError, UnicodeDecodeError):
            state._count("bad_request")
            return graph_error(400, 100, "Invalid parameter", subcode=validate.SUBCODE_MISSING)
        if not state.token_valid(token):
            state._count("auth")
            return graph_error(
                400,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                subcode=463 if token in config.revoked_tokens else None,
            )
        if state.token_expired(token, time.time()):
            state._count("auth")
            return graph_error(400, 190, "Error validating access token: Session has expired", subcode=463)
        pixel_id = request.path_params["pixel_id"]
        if not state.pixel_allowed(token, pixel_id):
            state._count("permission")
            return _pixel_refused(pixel_id, "post")
        data = body.get("data")
        problem = validate.validate_request(data, time.time())
        if problem is None and config.reject_event_ids:
            rejected = set(config.reject_event_ids)
            for index, event in enumerate(data):  # type: ignore[arg-type]
                event_id = str(event.get("event_id"))
                prefixes = [p[:-1] for p in rejected if p.endswith("*")]
                if event_id in rejected or any(event_id.startswith(p) for p in prefixes):
                    problem = (
                        index,
                        validate.Issue(2804048, "Event Rejected", "The fake was told to refuse this event"),
                    )
                    break
        if problem is not None:
            index, issue = problem
            state._count("invalid")
            where = f" (event {index})" if index >= 0 else ""
            return graph_error(
                400,
                100,
                "Invalid parameter",
                subcode=issue.subcode,
                title=issue.title,
                user_msg=issue.message + where,
            )
        trace = _trace()
        test_code = body.get("test_event_code")
        state.record(pixel_id, data, test_code, trace)  # type: ignore[arg-type]
        state._count("ok")
        received = len(data)  # type: ignore[arg-type]
        if test_code and config.test_events_received is not None:
            received = config.test_events_received
        return JSONResponse({"events_received": received, "messages": [], "fbtrace_id": trace})

    async def debug_token(request: Request) -> Response:
        access = request.query_params.get("access_token")
        token = request.query_params.get("input_token")
        if not access:
            return graph_error(400, 190, "An access token is required to request this resource.")
        if not state.token_valid(token):
            return JSONResponse(
                {
                    "data": {
                        "is_valid": False,
                        "error": {"code": 190, "message": "Error validating access token", "subcode": 463},
                        "scopes": [],
                    }
                }
            )
        expires_at = int(state.config.expiring_tokens.get(token or "", 0))
        scopes = state.config.token_scopes.get(token or "", ["ads_management", "business_management"])
        expired = state.token_expired(token, time.time())
        data: dict[str, object] = {
            "app_id": "000000000000000",
            "type": "SYSTEM_USER",
            "application": "trackai-capi-mock",
            "is_valid": not expired,
            "expires_at": expires_at,
            "data_access_expires_at": 0,
            "scopes": scopes,
        }
        if expired:
            data["error"] = {"code": 190, "message": "Session has expired", "subcode": 463}
        return JSONResponse({"data": data})

    async def read_pixel(request: Request) -> Response:
        """``GET /{version}/{pixel_id}?fields=id,name``: the pixel (dataset) when the token may use it."""
        token = request.query_params.get("access_token")
        pixel_id = request.path_params["pixel_id"]
        if not state.token_valid(token) or state.token_expired(token, time.time()):
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if not state.pixel_allowed(token, pixel_id):
            return _pixel_refused(pixel_id, "get")
        return JSONResponse({"id": pixel_id, "name": f"Pixel {pixel_id}"})

    async def accepted(request: Request) -> Response:
        pixel = request.query_params.get("pixel_id")
        with state.lock:
            rows = [e for e in state.events if pixel is None or e.get("_pixel_id") == pixel]
        return JSONResponse({"events": rows, "stats": state.stats()})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    async def configure(request: Request) -> Response:
        try:
            state.configure(**(await request.json()))
        except KeyError as exc:
            return JSONResponse({"error": f"unknown option {exc}"}, status_code=400)
        return JSONResponse(asdict(state.config))

    app = Starlette(
        routes=[
            Route("/{version}/{pixel_id}/events", events, methods=["POST"]),
            Route("/{version}/debug_token", debug_token, methods=["GET"]),
            Route("/_mock/accepted", accepted, methods=["GET"]),
            Route("/_mock/stats", stats, methods=["GET"]),
            Route("/_mock/reset", reset, methods=["POST"]),
            Route("/_mock/config", configure, methods=["POST"]),
            *dataset_quality.routes(state),
            Route("/{version}/{pixel_id}", read_pixel, methods=["GET"]),  # last: after every named path
        ]
    )
    app.state.mock = state
    return app
