"""Issue 22, low findings of the tracking snippet: cookie-attribute injection through ``fbclid`` and a
response browsers could sniff. The snippet runs in headless Chromium (Debian's) on a landing page that
Playwright serves itself, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai.core import session_id
from trackai.core.fbc import FBCLID_RE, is_valid_fbc
from trackai.core.snippet import FBCLID_JS_PATTERN, render_snippet
from trackai.settings import Settings

TENANT = "00000000-0000-4000-8000-000000000022"
LANDING = "https://shop.example/landing"
INGEST = "https://ingest.example"
# sendBeacon is recorded in the page (Chromium does not route beacons through Playwright).
RECORD_BEACONS = """
window.__beacons = [];
navigator.sendBeacon = function (url, blob) { blob.text().then(function (t) { window.__beacons.push(JSON.parse(t)); }); return true; };
"""


def _visit(browser, query: str, cookies: list[dict] | None = None) -> tuple[dict[str, dict], dict]:
    """Open the landing page with ``query``; returns (cookies by name, the click the snippet posted)."""
    context = browser.new_context()
    try:
        if cookies:
            context.add_cookies([{"url": LANDING, **c} for c in cookies])
        page = context.new_page()
        page.add_init_script(RECORD_BEACONS)
        html = f"<html><body><a id='buy' href='https://pay.hotmart.com/X1'>buy</a><script>{render_snippet(TENANT, INGEST)}</script></body></html>"
        page.route("**/*", lambda route: route.abort())  # nothing leaves the machine...
        # ...but the landing page, served by Playwright (a later route wins).
        page.route(
            "https://shop.example/**", lambda route: route.fulfill(body=html, content_type="text/html")
        )
        page.goto(LANDING + query)
        page.wait_for_function("window.__beacons.length > 0")
        click = page.evaluate("window.__beacons[0]")
        href = page.get_attribute("#buy", "href")
        by_name = {c["name"]: c for c in context.cookies()}
        click["_checkout_href"] = href
        return by_name, click
    finally:
        context.close()


@pytest.mark.parametrize(
    "fbclid",
    [
        "abc;Domain=seller.com",  # the reported attack: cookie attributes appended through the URL
        "abc;Path=/elsewhere",
        "abc;%20Max-Age=99999999",
        "abc%3BDomain%3Dseller.com",
        "fb.1.1700000000000.abc",  # a whole fbc: the re-wrapping Meta rejects
    ],
)
def test_fbclid_outside_the_grammar_is_never_written_to_a_cookie_or_posted(browser, fbclid: str) -> None:
    cookies, click = _visit(browser, f"?fbclid={fbclid}&utm_source=fb")
    assert "_fbc" not in cookies, cookies.get("_fbc")
    assert click["fbc"] is None
    assert session_id.is_session_id(click["session_id"])  # the click itself still goes out


def test_a_real_fbclid_is_kept_verbatim_in_the_fbc_cookie(browser) -> None:
    fbclid = "IwAR2xYz_Ab-9"
    cookies, click = _visit(browser, f"?fbclid={fbclid}")
    fbc = cookies["_fbc"]["value"]
    assert re.fullmatch(rf"fb\.1\.[0-9]{{13}}\.{re.escape(fbclid)}", fbc) and is_valid_fbc(fbc)
    assert cookies["_fbc"]["path"] == "/" and cookies["_fbc"]["domain"] == "shop.example"
    assert click["fbc"] == fbc


@pytest.mark.parametrize(
    ("stored", "kept"),
    [
        ("tai_short8ch", False),  # accepted by the old 8-64 rule; not an id the snippet mints
        ("tai_" + "a" * 64, False),
        ("facebook", False),
        (session_id.new_session_id(), True),
    ],
)
def test_session_cookie_must_match_the_one_session_id_grammar(browser, stored: str, kept: bool) -> None:
    cookies, click = _visit(browser, "", [{"name": "_tai_sid", "value": stored}])
    sid = cookies["_tai_sid"]["value"]
    assert session_id.is_session_id(sid)
    assert (sid == stored) is kept
    assert click["session_id"] == sid
    assert f"sck={sid}" in click["_checkout_href"]


def test_snippet_regexes_come_from_the_core_grammars() -> None:
    """One rule, one copy: the JS literals are generated from trackai.core, not retyped."""
    js = render_snippet(TENANT, INGEST)
    assert f"var SID_RE = {session_id.JS_PATTERN};" in js
    assert f"var FBCLID_RE = {FBCLID_JS_PATTERN};" in js
    assert f"/{FBCLID_RE.pattern}/" == FBCLID_JS_PATTERN
    assert "{8,64}" not in js


def test_snippet_response_is_not_sniffable_and_cached_sanely() -> None:
    """No database needed: the snippet route reads only settings (the lifespan, which opens the pool,
    is not started)."""
    app = create_app(Settings(), database_url="postgresql://nobody@127.0.0.1:9/none")
    client = TestClient(app)
    ok = client.get(f"/api/v1/snippet/{uuid.uuid4()}.js", params={"platform": "stripe"})
    assert ok.status_code == 200
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert ok.headers["content-type"].startswith("application/javascript")
    assert ok.headers["cache-control"] == "public, max-age=300"
    for bad in (
        client.get("/api/v1/snippet/not-a-uuid.js"),
        client.get(f"/api/v1/snippet/{uuid.uuid4()}.js?platform=x"),
    ):
        assert bad.status_code in (400, 404)
        assert bad.headers["x-content-type-options"] == "nosniff"
        assert bad.headers["cache-control"] == "no-store"
        assert json.loads(bad.text)["detail"]
