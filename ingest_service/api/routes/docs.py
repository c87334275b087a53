"""``/docs`` (Swagger UI) and ``/redoc`` that render without internet.

FastAPI's own pages load their JavaScript, CSS and favicon from a CDN, so they are blank on a host
without internet (or behind a strict egress proxy). Here the same pages load the assets from the
service itself: the Swagger UI and ReDoc bundles shipped by the ``fastapi-offline`` package (MIT,
pinned in constraints.txt), mounted under ``/static/docs``. The app is built with
``docs_url=None, redoc_url=None`` and ``install(app)`` adds these instead.

Both pages also carry a Content-Security-Policy that lets them load nothing but the service's own
URLs: ReDoc's bundle unconditionally shows a "by Redocly" logo from its CDN, which the browser then
never requests (the page renders the same without it).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/docs"

router = APIRouter(include_in_schema=False)
# The pages' bootstraps are inline scripts/styles (FastAPI's HTML); ReDoc runs its search in a blob: worker.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}


def install(app: FastAPI) -> None:
    """Serve the bundles and the two pages (call once, on an app built with docs_url/redoc_url None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)


def _asset(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        # validatorUrl null: Swagger UI would otherwise send the spec to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
    )
    page.headers.update(_HEADERS)
    return page


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app = request.app
    page = get_redoc_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )
    page.headers.update(_HEADERS)
    return page
