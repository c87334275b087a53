"""Issue 23, consent in the browser: the snippet of a tenant that requires consent reads
``window.trackaiConsent``, ``trackai.setConsent`` and IAB TCF v2's ``__tcfapi``; without consent it writes
no cookie and posts no identifier (fbc, fbp, fbclid, email, phone), and the click it posts lands without
identifiers. Debian's Chromium, headless, on a page Playwright serves itself: nothing leaves the machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db
from trackai.core import session_id
from trackai.core.snippet import render_snippet
from trackai.privacy import settings as privacy_settings
from trackai.settings import Settings

LANDING = "https://shop.example/landing"
INGEST = "https://ingest.example"
FBCLID = "IwARconsentTest" + "c" * 20
RECORD_BEACONS = """
window.__beacons = [];
navigator.sendBeacon = function (url, blob) { blob.text().then(function (t) { window.__beacons.push(JSON.parse(t)); }); return true; };
"""
TCF = """
window.__tcfapi = function (command, version, callback) {
  if (command !== "addEventListener") { return; }
  setTimeout(function () {
    callback({eventStatus: "tcloaded", gdprApplies: true, purpose: {consents: {1: %s}}}, true);
  }, 50);
};
"""


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        yield browser
        browser.close()


def _visit(browser, tenant: str, *, required: bool, init: str = "", then: str = "", beacons: int = 1):
    """Open the landing page with an fbclid and an existing _fbp; returns (cookie names, beacons)."""
    context = browser.new_context()
    try:
        context.add_cookies([{"url": LANDING, "name": "_fbp", "value": "fb.1.1700000000000.42424242"}])
        page = context.new_page()
        page.add_init_script(RECORD_BEACONS + init)
        snippet = render_snippet(tenant, INGEST, consent_required=required)
        html = f"<html><body><script>{snippet}</script></body></html>"
        page.route("**/*", lambda route: route.abort())
        page.route(
            "https://shop.example/**", lambda route: route.fulfill(body=html, content_type="text/html")
        )
        page.goto(f"{LANDING}?fbclid={FBCLID}&utm_source=fb")
        page.wait_for_function("window.__beacons.length > 0")
        if then:
            page.evaluate(then)
        page.wait_for_function(f"window.__beacons.length >= {beacons}")
        return {c["name"] for c in context.cookies()}, page.evaluate("window.__beacons")
    finally:
        context.close()


TENANT = "00000000-0000-4000-8000-000000000023"


def _no_identifiers(click: dict) -> None:
    assert click["consent"] is False
    assert click["fbc"] is None and click["fbp"] is None
    assert "fbclid" not in click["url"] and "utm_source=fb" in click["url"]
    assert session_id.is_session_id(click["session_id"])


def test_no_signal_means_no_consent_no_cookie_no_identifier(browser) -> None:
    cookies, (click,) = _visit(browser, TENANT, required=True)
    _no_identifiers(click)
    assert "_fbc" not in cookies and "_tai_sid" not in cookies


def test_page_flag_grants_consent(browser) -> None:
    cookies, (click,) = _visit(browser, TENANT, required=True, init="window.trackaiConsent = true;")
    assert click["consent"] is True and click["fbc"].endswith("." + FBCLID) and click["fbp"]
    assert {"_fbc", "_tai_sid"} <= cookies


def test_page_flag_false_and_lead_without_consent_sends_no_email(browser) -> None:
    cookies, beacons = _visit(
        browser,
        TENANT,
        required=True,
        init="window.trackaiConsent = false;",
        then="window.trackai.lead('buyer@example.com', '11987654321')",
        beacons=2,
    )
    lead = beacons[1]
    assert lead["event_type"] == "lead" and lead["email"] is None and lead["phone"] is None
    _no_identifiers(beacons[0])
    assert "_fbc" not in cookies


def test_set_consent_later_identifies_the_next_events(browser) -> None:
    cookies, beacons = _visit(
        browser,
        TENANT,
        required=True,
        then="window.trackai.setConsent(true); window.trackai.pageview()",
        beacons=2,
    )
    _no_identifiers(beacons[0])
    assert beacons[1]["consent"] is True and beacons[1]["fbc"] and "_fbc" in cookies
    assert beacons[1]["session_id"] == beacons[0]["session_id"]


@pytest.mark.parametrize("granted", [True, False])
def test_iab_tcf_purpose_one_decides(browser, granted: bool) -> None:
    cookies, (click,) = _visit(browser, TENANT, required=True, init=TCF % ("true" if granted else "false"))
    if granted:
        assert click["consent"] is True and click["fbc"] and "_fbc" in cookies
    else:
        _no_identifiers(click)
        assert "_fbc" not in cookies


def test_tenant_without_the_setting_is_unchanged(browser) -> None:
    cookies, (click,) = _visit(browser, TENANT, required=False)
    assert click["consent"] is True and click["fbc"] and click["fbp"] and "_fbc" in cookies
    assert click["automation"] is True  # Playwright sets navigator.webdriver: the server flags it


def test_the_consentless_browser_click_lands_without_identifiers(browser, pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    privacy_settings.update(conn, tenant, actor="test", consent_required=True)
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("198.51.100.60", 50000)) as client:
        snippet = client.get(f"/api/v1/snippet/{tenant}.js").text
        assert '"consent": true' in snippet  # the served snippet knows the tenant requires consent
        _, (click,) = _visit(browser, tenant, required=True)
        landed = client.post(
            "/api/v1/track/click", json=click, headers={"user-agent": "Mozilla/5.0 Chrome/124"}
        )
    assert landed.status_code == 202, landed.text
    row = conn.execute(
        """SELECT fbc, fbp, fbclid, client_ip, user_agent, email_hash, consent_denied, landing_url, bot_reason
             FROM landing.clicks WHERE click_id = %s""",
        (landed.json()["click_id"],),
    ).fetchone()
    assert row[:6] == (None, None, None, None, None, None) and row[6] is True
    assert "fbclid" not in row[7]
    assert row[8] == "automation"
