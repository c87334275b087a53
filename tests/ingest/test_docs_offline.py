"""``/docs`` and ``/redoc`` render in a browser that can reach nothing but the service on loopback.

The real app runs under uvicorn on 127.0.0.1; headless Chromium (Debian's, the shared ``browser``
fixture) opens both pages with every
request to another host aborted, and the test checks that the pages actually render (Swagger's operation
list, ReDoc's title and operations) and that no request tried to leave loopback. Screenshots of both
pages are written to the test's tmp_path (printed with ``-s``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ingest_service.main import create_app
from tests.support.processes import app_server
from trackai import db
from trackai.settings import Settings


@pytest.fixture(scope="module")
def base_url(pg_url: str) -> Iterator[str]:
    app = create_app(Settings(), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with app_server(app) as server:
        yield server.url


class Offline:
    """A page whose every request to anything but the service is aborted and recorded."""

    def __init__(self, browser, base_url: str, path: str) -> None:
        service = urlsplit(base_url).netloc
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.left_loopback: list[str] = []  # reached the network layer: aborted here, but a failure
        self.elsewhere: dict[str, str | None] = {}  # every off-service URL the page asked for -> failure
        self.errors: list[str] = []

        def guard(route) -> None:
            if urlsplit(route.request.url).netloc == service:
                route.continue_()
            else:
                self.left_loopback.append(route.request.url)
                route.abort()

        def off_service(request) -> bool:
            parts = urlsplit(request.url)
            return parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != service

        self.context.route("**/*", guard)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: off_service(r) and self.elsewhere.setdefault(r.url, None))
        self.page.on("requestfailed", lambda r: off_service(r) and self.elsewhere.update({r.url: r.failure}))
        self.page.goto(base_url + path, wait_until="networkidle")

    def assert_nothing_left_loopback(self) -> None:
        assert self.left_loopback == []
        # The page's CSP stops the rest inside the browser, before any connection is attempted.
        assert {url: failure for url, failure in self.elsewhere.items() if failure != "csp"} == {}
        assert self.errors == []


def test_swagger_ui_renders_offline(browser, base_url: str, tmp_path: Path) -> None:
    offline = Offline(browser, base_url, "/docs")
    page = offline.page
    try:
        click_op = page.locator(".opblock-summary-path", has_text="/api/v1/track/click")
        click_op.first.wait_for(state="visible", timeout=20_000)
        assert page.locator(".swagger-ui .info .title").inner_text().startswith("Track AI ingest")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/v1/webhooks/{gateway}/{tenant_id}" in [p.replace("\u200b", "") for p in paths]
        shot = tmp_path / "docs-offline.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"screenshot: {shot}")
    finally:
        offline.context.close()
    offline.assert_nothing_left_loopback()
    assert offline.elsewhere == {}  # Swagger UI asks for nothing outside the service at all


def test_redoc_renders_offline(browser, base_url: str, tmp_path: Path) -> None:
    offline = Offline(browser, base_url, "/redoc")
    page = offline.page
    try:
        title = page.locator(".api-info h1")
        title.wait_for(state="visible", timeout=20_000)
        assert title.inner_text().startswith("Track AI ingest")
        assert (
            page.get_by_text("/api/v1/track/click").count() > 0
            or page.locator("[data-section-id*='track']").count() > 0
        )
        shot = tmp_path / "redoc-offline.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"screenshot: {shot}")
    finally:
        offline.context.close()
    offline.assert_nothing_left_loopback()
