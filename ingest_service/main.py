"""App factories: ``create_app(settings=None)``; ``trackai serve`` runs ``create_served_app`` under uvicorn."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ingest_service.api.routes import docs, health, snippet, track, webhooks
from ingest_service.core import lifecycle
from ingest_service.core import logging as ingest_logging
from ingest_service.core.deps import AppState, parse_networks
from ingest_service.core.hot_path import HotPath
from ingest_service.core.metrics import Metrics, MetricsMiddleware
from ingest_service.core.refusals import Refusals
from ingest_service.core.store import Store
from trackai import db, migrations
from trackai.observability import init_sentry
from trackai.settings import Settings, get_settings, require_explicit_env


class IngestApp(FastAPI):
    """FastAPI with the two hot routes served by one plain ASGI layer first (core/hot_path.py): the
    webhook and click POSTs skip the middleware stack, routing and dependency solving; every other
    request goes through FastAPI unchanged. The routes stay registered (OpenAPI, /docs)."""

    hot: HotPath | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.hot is not None and scope["type"] == "http" and scope["method"] == "POST":
            scope["app"] = self
            if await self.hot(scope, receive, send):
                return
        await super().__call__(scope, receive, send)


def create_served_app() -> IngestApp:
    """What each uvicorn worker of ``trackai serve`` runs: the app, plus short full garbage collections
    (core/gc_pauses freezes the worker's startup objects; not done for apps built inside another process,
    e.g. tests)."""
    return create_app(serving=True)


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, serving: bool = False
) -> IngestApp:
    settings = require_explicit_env(settings or get_settings())
    ingest_logging.configure(settings.log_level)
    init_sentry("ingest", dsn=settings.sentry_dsn, environment=settings.env)
    url = database_url or db.ingest_database_url(settings)
    store = Store(url, settings)
    metrics = Metrics()
    expected = frozenset(m.version for m in migrations.discover(settings.sql_dir))

    refusals = Refusals(settings, store, metrics, parse_networks(settings.refusal_limit_exempt_networks))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with lifecycle.running(app.state.ingest, url, freeze_gc=serving):
            yield

    app = IngestApp(
        title="Track AI ingest",
        version="1.0",
        description="Verified gateway webhooks and landing clicks, landed in Postgres before any 2xx.",
        lifespan=lifespan,
        docs_url=None,  # served offline by routes/docs.py (no CDN)
        redoc_url=None,
    )
    app.state.ingest = AppState(
        settings, store, metrics, parse_networks(settings.trusted_proxies), expected, refusals
    )
    app.include_router(webhooks.router)
    app.include_router(track.router)
    app.include_router(snippet.router)
    app.include_router(health.router)
    docs.install(app)
    # Browsers post clicks from the sellers' own domains; no cookies cross origins (no credentials).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        max_age=86400,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.hot = HotPath(metrics, webhooks.receive_webhook, track.track_click)
    return app
