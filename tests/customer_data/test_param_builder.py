"""fbc/fbp as Meta's Parameter Builder builds them, checked against the official ``capi-param-builder-python``
on the same URLs, referrers and cookies: the click route's server-side rule (``resolve_fbc`` +
``click_fbclid``) and the browser snippet (headless Chromium) keep and build the same fbclid as the
Parameter Builder, keep an existing ``_fbc`` verbatim (appendix included) for the same fbclid, and never
decode the fbclid (where the Parameter Builder does: pinned below).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from capi_param_builder import ParamBuilder

from ingest_service.api.routes.track import Dropped, click_fbclid, resolve_fbc
from trackai.core.fbc import fbclid_from_fbc, is_valid_fbc, is_valid_fbp
from trackai.core.snippet import render_snippet

HOST = "shop.example.com"
LANDING = f"https://{HOST}/landing"
APPENDIX_COOKIE = "fb.2.1767220000000.IwAR_Same-1.AQICAQMC"  # as the Parameter Builder writes it

CASES = {
    # name: (landing query, referrer, stored _fbc)
    "same_fbclid_keeps_cookie_with_appendix": ("?fbclid=IwAR_Same-1", None, APPENDIX_COOKIE),
    "new_fbclid_rewrites": ("?fbclid=IwAR_New-2", None, APPENDIX_COOKIE),
    "fbclid_only_in_referrer": ("", f"https://{HOST}/?fbclid=IwAR_Ref-3&utm_source=fb", None),
    "referrer_fbclid_same_as_cookie": ("", f"https://{HOST}/?fbclid=IwAR_Same-1", APPENDIX_COOKIE),
    "no_fbclid_keeps_cookie": ("?utm_source=fb", None, APPENDIX_COOKIE),
    "first_click": ("?fbclid=IwAR_First-4", None, None),
    "url_wins_over_referrer": ("?fbclid=IwAR_Url-5", f"https://{HOST}/?fbclid=IwAR_Ref-5", None),
}


def param_builder(query: str, referrer: str | None, cookie: str | None) -> ParamBuilder:
    builder = ParamBuilder([HOST.split(".", 1)[1]])
    cookies = {"_fbc": cookie} if cookie else {}
    builder.process_request(HOST, parse_qs(urlsplit(query).query), cookies, referrer)
    return builder


def server_side(query: str, referrer: str | None, cookie: str | None, now_ms: int) -> str | None:
    dropped = Dropped()
    fbclid = click_fbclid(LANDING + query, referrer, dropped)
    assert not dropped
    return resolve_fbc(cookie, fbclid, now_ms, dropped)


@pytest.mark.parametrize("case", sorted(CASES))
def test_click_route_builds_and_keeps_fbc_as_the_parameter_builder(case):
    query, referrer, cookie = CASES[case]
    before = int(time.time() * 1000)
    ours = server_side(query, referrer, cookie, before)
    theirs = param_builder(query, referrer, cookie).get_fbc()
    assert is_valid_fbc(theirs) and is_valid_fbc(ours)
    assert fbclid_from_fbc(ours) == fbclid_from_fbc(theirs)
    if theirs == cookie:  # the Parameter Builder kept the stored cookie: so do we, verbatim
        assert ours == cookie
    else:  # both built a new value at first sight, creation time in ms
        assert ours != cookie and abs(int(ours.split(".")[2]) - int(theirs.split(".")[2])) < 60_000


def test_parameter_builder_values_pass_our_one_grammar():
    builder = param_builder("?fbclid=IwAR_Grammar-6", None, None)
    assert is_valid_fbc(builder.get_fbc()) and is_valid_fbp(builder.get_fbp())
    assert fbclid_from_fbc(builder.get_fbc()) == "IwAR_Grammar-6"


def test_we_never_decode_the_fbclid_the_parameter_builder_does():
    theirs = param_builder("?fbclid=IwAR%2Dx", None, None).get_fbc()
    assert fbclid_from_fbc(theirs) == "IwAR-x"  # parse_qs decoded %2D
    dropped = Dropped()
    assert click_fbclid(LANDING + "?fbclid=IwAR%2Dx", None, dropped) is None  # not an fbclid: dropped
    assert [d["field"] for d in dropped] == ["fbclid"]


def test_a_stored_fbc_without_appendix_is_kept_as_is_the_parameter_builder_appends_its_own():
    cookie = "fb.1.1767220000000.IwAR_Plain-7"
    theirs = param_builder("?fbclid=IwAR_Plain-7", None, cookie).get_fbc()
    assert theirs.startswith(cookie + ".") and fbclid_from_fbc(theirs) == "IwAR_Plain-7"
    assert server_side("?fbclid=IwAR_Plain-7", None, cookie, 1) == cookie


# --- the browser snippet on the same URLs, referrers and cookies -----------------------------------

RECORD_BEACONS = """
window.__beacons = [];
navigator.sendBeacon = function (url, blob) { blob.text().then(function (t) { window.__beacons.push(JSON.parse(t)); }); return true; };
"""


def snippet_fbc(browser, query: str, referrer: str | None, cookie: str | None) -> str | None:
    context = browser.new_context()
    try:
        if cookie:
            context.add_cookies([{"url": LANDING, "name": "_fbc", "value": cookie}])
        page = context.new_page()
        page.add_init_script(RECORD_BEACONS)
        html = f"<html><body><script>{render_snippet('00000000-0000-4000-8000-000000000014', 'https://ingest.example')}</script></body></html>"
        page.route("**/*", lambda route: route.abort())
        page.route(f"https://{HOST}/**", lambda route: route.fulfill(body=html, content_type="text/html"))
        if referrer:  # a page of the same site that had the fbclid links to the landing page
            page.route(
                referrer,
                lambda route: route.fulfill(
                    body=f"<html><body><a id='go' href='{LANDING + query}'>go</a></body></html>",
                    content_type="text/html",
                ),
            )
            page.goto(referrer)
            page.click("#go")
        else:
            page.goto(LANDING + query)
        page.wait_for_function("window.__beacons.length > 0")
        return page.evaluate("window.__beacons[0]")["fbc"]
    finally:
        context.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_snippet_builds_and_keeps_fbc_as_the_parameter_builder(browser, case):
    query, referrer, cookie = CASES[case]
    ours = snippet_fbc(browser, query, referrer, cookie)
    theirs = param_builder(query, referrer, cookie).get_fbc()
    assert is_valid_fbc(ours) and fbclid_from_fbc(ours) == fbclid_from_fbc(theirs)
    if theirs == cookie:
        assert ours == cookie
    else:
        assert ours != cookie and abs(int(ours.split(".")[2]) - int(theirs.split(".")[2])) < 60_000
