"""Prometheus metrics, one registry per app (so tests can build several apps in one process).

Every label value comes from a closed set: route templates, the known gateways (anything else is
``invalid``), outcomes and refusal reasons written in this code base. No tenant id is ever a label, so
the series count cannot grow with what clients put in a URL. The registry is served on the internal
listener (``metrics_server``), never on the public port.

With several uvicorn workers each process exposes its own counters (each on its own internal port).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackai.core.gateways import ADAPTERS

INVALID = "invalid"
WEBHOOK_OUTCOMES = ("accepted", "duplicate", "quarantined")
EVENT_TYPES = ("click", "pageview", "lead")
# Reasons every known gateway can be refused for once its tenant is known; their series exist from start.
KNOWN_TENANT_REASONS = ("rate_limited", "quarantined")


def gateway_label(gateway: str | None) -> str:
    """A known gateway's name, or ``invalid`` for any other path segment."""
    return gateway if gateway in ADAPTERS else INVALID


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trackai_ingest_requests",
            "HTTP requests by route template, gateway (known or 'invalid') and status code",
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
            "Refused or quarantined webhooks of known tenants on known gateways, by gateway and reason "
            "(what the webhook success-rate alert judges)",
            ("gateway", "reason"),
            registry=self.registry,
        )
        self.unattributed = Counter(
            "trackai_ingest_webhook_refusals_unattributed",
            "Refused webhooks that no known tenant can be blamed for (unknown tenant or gateway, refused "
            "before the tenant was read, address over its refusal budget), by gateway and reason",
            ("gateway", "reason"),
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
        self.clicks_refused = Counter(
            "trackai_ingest_clicks_refused",
            "Clicks refused by reason (tenant_limit, address_limit, session_limit, lead_address_limit)",
            ("reason",),
            registry=self.registry,
        )
        self.click_fields_dropped = Counter(
            "trackai_ingest_click_fields_dropped",
            "Optional click fields dropped (the click itself landed), by field and reason",
            ("field", "reason"),
            registry=self.registry,
        )
        # Series the alert rules read exist from the first scrape, at 0 (docs/ops/prometheus-alerts.yml).
        for gateway in ADAPTERS:
            for outcome in WEBHOOK_OUTCOMES:
                self.webhooks.labels(gateway, outcome)
            for reason in KNOWN_TENANT_REASONS:
                self.rejections.labels(gateway, reason)
        for event_type in EVENT_TYPES:
            self.clicks.labels(event_type)


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
            gateway = ""
            if template.startswith("/api/v1/webhooks"):
                gateway = gateway_label((scope.get("path_params") or {}).get("gateway"))
            self.metrics.requests.labels(template, gateway, str(status_holder["status"])).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
