"""probe_landing_url and check_pixel_presence against loopback landing pages: the good page, a redirect
that drops fbclid, missing/wrong/noscript/duplicate/foreign pixels, missing or foreign snippet, 404, a
redirect loop, and TLS with an expired self-signed certificate generated here with `cryptography`."""

from __future__ import annotations

import pytest

from tests.setup.conftest import PIXEL
from trackai.net import free_port
from trackai.settings import Settings
from trackai.setup import tools
from trackai_cli.setup_fakes.landing import LandingFake, expired_certificate

SNIPPET_BASE = "https://track.example.com.br"


@pytest.fixture
def site(tenant):
    with LandingFake(PIXEL, tenant, SNIPPET_BASE) as fake:
        yield fake


def test_probe_good_redirect_keeps_parameters(ctx, tenant, site):
    url = f"{site.url}/redirect-keep?fbclid=IwAR2abcDEF&utm_source=facebook&utm_campaign=bf&src=ad1"
    r = tools.probe_landing_url(ctx, tenant, url)
    assert (r.status, r.code, r.observed["hop_count"]) == ("pass", "ok", 2), r
    assert [h["status"] for h in r.observed["hops"]] == [301, 200]
    assert r.observed["final_url"].startswith(site.url + "/good?fbclid=IwAR2abcDEF")


def test_probe_redirect_that_drops_fbclid(ctx, tenant, site):
    r = tools.probe_landing_url(ctx, tenant, f"{site.url}/redirect-chain?fbclid=IwAR2abc&utm_source=fb")
    assert (r.status, r.code, r.observed["hop"], r.observed["hop_status"]) == (
        "fail",
        "params_dropped",
        2,
        302,
    )
    assert r.observed["dropped_params"] == ["fbclid", "utm_source"]
    assert "fbclid" in r.message.pt and "$request_uri" in r.next_action.en


def test_probe_adds_a_made_up_fbclid_when_the_url_has_none(ctx, tenant, site):
    r = tools.probe_landing_url(ctx, tenant, f"{site.url}/redirect-drop")
    assert r.code == "params_dropped" and set(r.observed["added_params"]) == {"fbclid", "utm_source"}


def test_probe_http_error_loop_unreachable_and_invalid(ctx, tenant, site):
    assert tools.probe_landing_url(ctx, tenant, f"{site.url}/missing").code == "http_error"
    loop = tools.probe_landing_url(ctx, tenant, f"{site.url}/loop?fbclid=x")
    assert (loop.code, loop.observed["hop_count"]) == ("too_many_redirects", 10)
    down = tools.probe_landing_url(ctx, tenant, f"http://127.0.0.1:{free_port()}/")
    assert down.code == "unreachable" and "ConnectError" in down.observed["error"]
    assert tools.probe_landing_url(ctx, tenant, "ftp://x").code == "invalid_url"


def test_probe_expired_self_signed_certificate(ctx, tenant, tmp_path):
    cert, key = expired_certificate(tmp_path / "tls", days_ago=3)
    with LandingFake(PIXEL, tenant, SNIPPET_BASE, certificate=(cert, key)) as tls_site:
        # trusted as a CA (so only the date is wrong): "certificate has expired"
        ctx.settings = Settings(setup={"probe_ca_file": str(cert), "probe_timeout_seconds": 3})
        r = tools.probe_landing_url(ctx, tenant, f"{tls_site.url}/good?fbclid=abc")
        assert (r.status, r.code) == ("fail", "tls_invalid"), r
        assert "expired" in r.observed["tls_error"] and "valid until" in r.observed["tls_detail_en"]
        # not trusted at all: the self-signed verdict, with the certificate's dates still shown
        ctx.settings = Settings(setup={"probe_timeout_seconds": 3})
        r = tools.probe_landing_url(ctx, tenant, f"{tls_site.url}/good")
        assert r.code == "tls_invalid" and "self" in r.observed["tls_error"].lower(), r.observed
        assert "self-signed" in r.observed["tls_detail_en"] and "autoassinado" in r.observed["tls_detail"]
        assert tools.check_pixel_presence(ctx, tenant, f"{tls_site.url}/good").code == "fetch_failed"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("good", "pass", "ok"),
        ("redirect-keep", "pass", "ok"),
        ("no-pixel", "fail", "pixel_missing"),
        ("wrong-pixel", "fail", "wrong_pixel"),
        ("noscript-only", "fail", "noscript_only"),
        ("duplicate", "warn", "duplicate_pixel"),
        ("foreign", "warn", "foreign_pixel"),
        ("no-snippet", "fail", "snippet_missing"),
        ("other-tenant", "fail", "snippet_other_tenant"),
        ("missing", "fail", "fetch_failed"),
    ],
)
def test_pixel_presence(ctx, tenant, site, path, status, code):
    r = tools.check_pixel_presence(ctx, tenant, f"{site.url}/{path}")
    assert (r.status, r.code) == (status, code), r
    assert r.message.pt != r.message.en and r.next_action.pt


def test_wrong_pixel_names_both_ids(ctx, tenant, site):
    r = tools.check_pixel_presence(ctx, tenant, f"{site.url}/wrong-pixel")
    assert PIXEL in r.message.en and r.observed["found_pixels"] in r.message.en
    assert r.observed["found_pixels"] != PIXEL
