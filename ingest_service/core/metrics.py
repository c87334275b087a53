"""Prometheus metrics, one registry per app (so tests can build several apps in one process).

With several uvicorn workers each process exposes its own counters; scrape each worker or run one
worker per container behind the load balancer.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trackai_ingest_requests",
            "HTTP requests by route template, gateway and status code",
            ("route", "gateway", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "trackai_ingest_request_seconds",
            "Request latency by route template",
            ("route",),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.rejections = Counter(
            "trackai_ingest_webhook_rejections",
            "Refused or quarantined webhooks by tenant (unknown when not a tenant), gateway and reason",
            ("tenant_id", "gateway", "reason"),
            registry=self.registry,
        )
        self.webhooks = Counter(
            "trackai_ingest_webhooks",
            "Webhook outcomes (accepted, duplicate, quarantined) by gateway",
            ("gateway", "outcome"),
            registry=self.registry,
        )
        self.clicks = Counter(
            "trackai_ingest_clicks", "Landed clicks by event type", ("event_type",), registry=self.registry
        )


class MetricsMiddleware:
    """Pure ASGI (cheaper than BaseHTTPMiddleware): counts every HTTP response by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            gateway = (scope.get("path_params") or {}).get("gateway", "")
            if gateway and template.startswith("/api/v1/webhooks") and len(gateway) > 20:
                gateway = "invalid"
            self.metrics.requests.labels(template, gateway, str(status_holder["status"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
