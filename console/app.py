"""The seller console's ASGI app (``trackai console`` serves it; docs/console.md).

Server-rendered pages (FastAPI + Jinja2 templates, inline SVG charts, one small script that refreshes
counts and copies text), connected to Postgres as the role trackai_console: every page reads its
tenant's rows only, because the database says so (row-level security, sql/0602), not only the code.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from console import web
from console.db import Database, console_database_url
from console.security import SECURITY_HEADERS, Signer, session_secret
from console.views import (
    auth,
    billing,
    failures,
    operator,
    overview,
    privacy,
    provisioning,
    purchases,
    quality,
    setup,
)
from trackai.settings import Settings, get_settings

log = logging.getLogger("trackai.console")


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response; pages are never cached."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", b"public, max-age=3600" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = Database(database_url or console_database_url(settings), settings.console.pool_size)
    signer = Signer(session_secret(settings), int(settings.console.session_hours * 3600))
    templates = Jinja2Templates(directory=str(web.TEMPLATES))
    templates.env.globals["refresh_ms"] = settings.console.refresh_seconds * 1000

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        database.open()
        try:
            yield
        finally:
            database.close()

    app = FastAPI(
        title="Track AI console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.console = web.ConsoleState(settings, database, signer, templates)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(web.STATIC)), name="static")
    templates.env.globals["billing_banner"] = billing.banner  # quota banner on every page
    templates.env.globals["provisioning_card"] = provisioning.setup_card  # the setup page's provisioning card
    pages = (auth, overview, purchases, failures, quality, setup, provisioning, billing, operator, privacy)
    for module in pages:
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.exception_handler(web.LoginRequired)
    async def login_required(request: Request, exc: web.LoginRequired) -> Response:
        if request.method == "GET" and not request.url.path.endswith("/live"):
            return RedirectResponse(web.login_url(request), status_code=303)
        return PlainTextResponse("login required", status_code=401)

    @app.exception_handler(web.ChooseTenant)
    async def choose_tenant(request: Request, exc: web.ChooseTenant) -> Response:
        return RedirectResponse("/operator/tenants", status_code=303)

    @app.exception_handler(web.CsrfRefused)
    async def csrf_refused(request: Request, exc: web.CsrfRefused) -> Response:
        return _error(request, 403, "error.403")

    @app.exception_handler(web.BadRequest)
    async def bad_request(request: Request, exc: web.BadRequest) -> Response:
        return _error(request, 400, "error.400", detail=str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
        return _error(request, 400, "error.400", detail=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(
            request,
            exc.status_code if exc.status_code in (404, 405) else 400,
            "error.404" if exc.status_code in (404, 405) else "error.400",
            detail=str(exc.detail),
        )

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("console request failed", extra={"path": request.url.path})
        return _error(request, 500, "error.500")

    return app


def _error(request: Request, status: int, key: str, **values: object) -> Response:
    try:
        return web.render(
            request, "error.html", status_code=status, message_key=key, values=values, nav=None, lang_next="/"
        )
    except Exception:  # the error page itself failed (e.g. the database is down): plain text
        return PlainTextResponse(web.translator(request).t(key, **values), status_code=status)
