"""One HTTP call to ``POST {graph_url}/{version}/{pixel_id}/events`` over a pooled httpx client."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

from trackai.core.capi import payload as capi_payload
from trackai.core.capi.errors import ErrorClass, GraphError, classify


@dataclass(frozen=True)
class SendResult:
    error: GraphError
    latency_ms: int
    events_received: int | None = None

    @property
    def ok(self) -> bool:
        return self.error.error_class is ErrorClass.OK


class Sender:
    """Thread-safe; share one per run (or per process) so connections are reused."""

    def __init__(
        self,
        graph_url: str,
        api_version: str,
        *,
        timeout_seconds: float = 1.5,
        max_connections: int = 8,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base = f"{graph_url.rstrip('/')}/{api_version.strip('/')}"
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
            headers={"content-type": "application/json"},
        )

    def close(self) -> None:
        self.client.close()

    def url_for(self, pixel_id: str) -> str:
        return f"{self.base}/{pixel_id}/events"

    def send(
        self, pixel_id: str, token: str, events: list[dict], test_event_code: str | None = None
    ) -> SendResult:
        body = json.dumps(
            capi_payload.build_request_body(events, test_event_code), separators=(",", ":")
        ).encode()
        started = time.perf_counter()
        try:
            response = self.client.post(self.url_for(pixel_id), params={"access_token": token}, content=body)
        except httpx.HTTPError as exc:  # timeout, refused, reset: retryable
            latency = int((time.perf_counter() - started) * 1000)
            return SendResult(classify(None, f"{type(exc).__name__}: {exc}"), latency)
        latency = int((time.perf_counter() - started) * 1000)
        error = classify(response.status_code, response.content)
        received = None
        if error.error_class is ErrorClass.OK:
            try:
                received = int(response.json().get("events_received"))
            except (ValueError, TypeError, AttributeError):
                received = None
        return SendResult(error, latency, received)
