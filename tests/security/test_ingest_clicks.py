"""Issue 22, findings 1 (ingest side) and 2, against a real ``trackai serve`` over loopback.

Each test replays the attack as it was reproduced on main and asserts it now fails: made-up session ids
and planted fbc values, and one address flooding maximum-size clicks until every other visitor of the
tenant got 429. Addresses are simulated with X-Forwarded-For from 127.0.0.1 (a trusted proxy).
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from tests.security.ingest_attack import (
    click_flood,
    free_port,
    fresh_window,
    max_size_click,
    post_all,
    start_service,
    stop_service,
    visitor_clicks,
)
from trackai import tenants
from trackai.core.session_id import new_session_id

pytestmark = pytest.mark.integration

# Small budgets so that the attack fits in a test; the ratios are the ones of the defaults.
ENV = {
    "TRACKAI_CLICK_RATE_LIMIT_PER_MIN": "400",
    "TRACKAI_CLICK_RATE_LIMIT_PER_ADDRESS_PER_MIN": "60",
    "TRACKAI_CLICK_RATE_LIMIT_PER_SESSION_PER_MIN": "20",
    "TRACKAI_LEAD_RATE_LIMIT_PER_MIN": "30",
    "TRACKAI_LEAD_RATE_LIMIT_PER_ADDRESS_PER_MIN": "5",
    "TRACKAI_METRICS_PORT": "0",
}


@pytest.fixture(scope="module")
def service(pg_url: str, tmp_path_factory):
    proc, base = start_service(pg_url, free_port(), tmp_path_factory.mktemp("clicks") / "ingest.log", ENV)
    assert proc.poll() is None, "service did not start"
    yield base
    stop_service(proc)


def test_made_up_session_ids_are_refused_and_never_stored(service, conn) -> None:
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "session target")
    attacker = {"fbc": "fb.1.1731000000000.AttackerClick", "fbp": "fb.1.1731000000000.424242"}
    with httpx.Client(base_url=service, timeout=10) as client:
        for made_up in ("facebook", "cpc", "HOTMART_PRODUCT_PAGE", "tai_short", "tai_" + "x" * 23):
            r = client.post(
                "/api/v1/track/click", json={"tenant_id": tenant_id, "session_id": made_up, **attacker}
            )
            assert r.status_code == 422, (made_up, r.text)
            assert "snippet" in r.text and "tai_" in r.text  # the reason says what is expected
        ok = client.post("/api/v1/track/click", json={"tenant_id": tenant_id, "session_id": new_session_id()})
        assert ok.status_code == 202
    stored = conn.execute(
        "SELECT session_id FROM landing.clicks WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    assert len(stored) == 1 and stored[0][0].startswith("tai_")


def test_planted_fbc_fbp_and_fbclid_are_dropped_with_a_reason(service, conn) -> None:
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "fbc target")
    session = new_session_id()
    with httpx.Client(base_url=service, timeout=10) as client:
        r = client.post(
            "/api/v1/track/click",
            json={
                "tenant_id": tenant_id,
                "session_id": session,
                "fbc": "fb.1.1731000000000.x$y",  # passed the old endpoint, then sent purchases to the DLQ
                "fbp": "fb.1.not-a-time.1",
                "url": "https://lp.example.com/?fbclid=abc;Domain=seller.com&utm_source=fb",
            },
        )
    assert r.status_code == 202, r.text  # the click itself is kept
    body = r.json()
    assert {d["field"]: d["reason"] for d in body["dropped"]} == {
        "fbc": "invalid",
        "fbp": "invalid",
        "fbclid": "invalid",
    }
    assert body["fbc"] is None
    row = conn.execute(
        "SELECT fbc, fbp, fbclid, utm FROM landing.clicks WHERE tenant_id = %s AND session_id = %s",
        (tenant_id, session),
    ).fetchone()
    assert row == (None, None, None, {"utm_source": "fb"})


def test_maximum_size_click_is_bounded(service, conn) -> None:
    """A click used to be storable at 27 KiB; oversized optional fields are now shortened or dropped."""
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "size target")
    body = {**max_size_click(tenant_id, new_session_id(), 2100), "email": "e" * 400 + "@example.com"}
    with httpx.Client(base_url=service, timeout=10) as client:
        r = client.post("/api/v1/track/click", json=body, headers={"User-Agent": "u" * 5000})
        assert r.status_code == 202, r.text
        reasons = {d["field"]: d["reason"] for d in r.json()["dropped"]}
        assert reasons == {"url": "shortened", "referrer": "shortened", "email": "too_long"}
        before_issue_22 = client.post("/api/v1/track/click", json=max_size_click(tenant_id, new_session_id()))
        assert before_issue_22.status_code == 413  # 27 KiB: over the 16 KiB body limit
    size, url, utm = conn.execute(
        "SELECT pg_column_size(c.*), landing_url, utm FROM landing.clicks c WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    assert size <= 8 * 1024, size
    assert url == "https://lp.example.com/"
    assert len(utm) == 8 and all(len(v) <= 200 for v in utm.values())


def test_one_address_cannot_blank_the_tenant(service, conn) -> None:
    """The attack: one address floods maximum-size clicks (from many session ids) until the tenant's
    budget is gone and every real visitor gets 429. Now the address is cut off at its own budget and the
    other visitors of the same tenant keep getting 202."""
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "flood target")
    sessions = [new_session_id() for _ in range(40)]
    fresh_window()
    first_minute = int(time.time() // 60)
    flood = click_flood(service, tenant_id, 600, "203.0.113.77", sessions, 2100)  # tenant budget: 400/min
    visitors = visitor_clicks(service, tenant_id, 60, [new_session_id() for _ in range(60)])
    windows = int(time.time() // 60) - first_minute + 1  # 60 per minute window for the address
    assert 60 <= flood[202] <= 60 * windows and flood[429] == 600 - flood[202], flood
    assert visitors == Counter({202: 60}), visitors
    landed = conn.execute(
        "SELECT count(*) FILTER (WHERE host(client_ip) = '203.0.113.77'), count(*)"
        " FROM landing.clicks WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    assert landed == (flood[202], flood[202] + 60)


def test_one_session_is_limited_without_touching_other_sessions(service, conn) -> None:
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "session flood")
    looping, other = new_session_id(), new_session_id()
    fresh_window()
    body = {"tenant_id": tenant_id, "session_id": looping, "event_type": "pageview"}
    codes = post_all(
        service, [("/api/v1/track/click", {"json": body, "headers": {"X-Forwarded-For": "198.18.0.1"}})] * 30
    )
    assert codes == Counter({202: 20, 429: 10}), codes
    with httpx.Client(base_url=service, timeout=10) as client:
        r = client.post(
            "/api/v1/track/click",
            json={"tenant_id": tenant_id, "session_id": other},
            headers={"X-Forwarded-For": "198.18.0.1"},
        )
    assert r.status_code == 202


def test_leads_have_a_smaller_budget_of_their_own(service, conn) -> None:
    """A lead carrying a buyer's email is a stronger lever than a click: fewer are accepted per address
    and per tenant, and using up the lead budget leaves the click budget untouched."""
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "lead target")
    fresh_window()
    one_address = [
        (
            "/api/v1/track/click",
            {
                "json": {
                    "tenant_id": tenant_id,
                    "session_id": new_session_id(),
                    "event_type": "lead",
                    "email": f"b{i}@example.com",
                },
                "headers": {"X-Forwarded-For": "198.18.1.1"},
            },
        )
        for i in range(10)
    ]
    assert post_all(service, one_address) == Counter({202: 5, 429: 5})
    many = [
        (
            "/api/v1/track/click",
            {
                "json": {
                    "tenant_id": tenant_id,
                    "session_id": new_session_id(),
                    "event_type": "lead",
                    "email": f"m{i}@example.com",
                },
                "headers": {"X-Forwarded-For": f"198.18.2.{i + 1}"},
            },
        )
        for i in range(40)
    ]
    codes = post_all(service, many)
    assert codes[202] == 25 and codes[429] == 15, codes  # 30 leads per minute for the tenant
    clicks = visitor_clicks(service, tenant_id, 10, [new_session_id() for _ in range(10)])
    assert clicks == Counter({202: 10})
    assert conn.execute(
        "SELECT count(*) FROM landing.clicks WHERE tenant_id = %s AND event_type = 'lead'", (tenant_id,)
    ).fetchone() == (30,)
