"""Units of the ingest hardening (issue 22): per-visitor counters, click field rules, the cheap
credential checks, aggregated refusals, the Stripe header caps and the role check.
The attacks themselves, against a real server, are in tests/security/test_ingest_*.py."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from ingest_service.api.routes.track import Dropped, bounded_url, resolve_fbc, valid_fbclid
from ingest_service.api.routes.webhooks import missing_credential
from ingest_service.core.limits import WindowCounter, address_key
from ingest_service.core.privileges import problems
from ingest_service.main import create_app
from trackai import db
from trackai.core.gateways import AuthError, get_gateway
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload


def test_window_counter_rolls_over_and_bounds_its_memory() -> None:
    now = [120.0]
    counter = WindowCounter(window_seconds=60, max_keys=2, clock=lambda: now[0])
    assert [counter.hit("a") for _ in range(3)] == [1, 2, 3]
    counter.hit("b")
    assert counter.hit("c") == 0 and counter.count("c") == 0  # past max_keys: not tracked (fail open)
    assert counter.hit("a") == 4  # keys already tracked still count
    assert counter.retry_after() == 60
    now[0] = 179.5
    assert counter.count("a") == 4 and counter.retry_after() == 1
    now[0] = 180.0
    assert counter.count("a") == 0 and counter.hit("c") == 1  # a new window, room again


def test_address_key_groups_ipv6_by_64() -> None:
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key(None) == address_key("nonsense") == "unknown"


def test_click_field_rules() -> None:
    dropped = Dropped()
    assert valid_fbclid("https://x.example/?fbclid=IwAR2_AbC-xyz", dropped) == "IwAR2_AbC-xyz"
    assert valid_fbclid("https://x.example/?fbclid=abc;Domain=seller.com", dropped) is None
    assert resolve_fbc("fb.1.1731000000000.x$y", None, 1, dropped) is None
    assert resolve_fbc("fb.1.1700000000000.IwAR2", "IwAR2", 1, dropped) == "fb.1.1700000000000.IwAR2"
    assert (
        resolve_fbc("fb.1.1700000000000.Other", "IwAR2", 1731000000000, dropped) == "fb.1.1731000000000.IwAR2"
    )
    long_url = "https://lp.example.com/oferta?" + "x" * 5000
    assert bounded_url("url", long_url, dropped) == "https://lp.example.com/oferta"
    assert bounded_url("referrer", "https://r.example.com/" + "p" * 3000, dropped) is None
    assert bounded_url("url", "https://ok.example.com/?a=1", dropped) == "https://ok.example.com/?a=1"
    assert [(d["field"], d["reason"]) for d in dropped] == [
        ("fbclid", "invalid"),
        ("fbc", "invalid"),
        ("url", "shortened"),
        ("referrer", "too_long"),
    ]


def _request(path: str, headers: dict[str, str] | None = None, query: bytes = b"") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": path, "headers": raw, "query_string": query})


def test_missing_credential_is_judged_from_bytes_only() -> None:
    assert missing_credential("stripe", _request("/"), None) == "missing_signature"
    assert missing_credential("stripe", _request("/", {"Stripe-Signature": "t=1,v1=x"}), None) is None
    assert missing_credential("kiwify", _request("/"), None) == "missing_signature"
    assert missing_credential("kiwify", _request("/", query=b"signature=ab"), None) is None
    assert missing_credential("perfectpay", _request("/"), None) is None  # judged once the body is read
    assert missing_credential("perfectpay", _request("/"), b'{"code":"PP1"}') == "missing_token"
    assert missing_credential("perfectpay", _request("/"), b'{"token":"t"}') is None
    assert missing_credential("perfectpay", _request("/"), b'{"\\u0074oken":"t"}') is None  # an escaped key
    assert missing_credential("hotmart", _request("/"), b'{"id":"1"}') == "missing_token"
    assert missing_credential("hotmart", _request("/", {"X-HOTMART-HOTTOK": "t"}), b"{}") is None
    assert missing_credential("hotmart", _request("/"), b'{"hottok":"t"}') is None


def test_stripe_signature_header_caps() -> None:
    stripe = get_gateway("stripe")
    body = b"{}"
    for header, reason in (
        ("t=1," + "v1=" + "0" * 1100, "signature_header_too_long"),
        ("t=1," + ",".join(["v1=" + "0" * 64] * 6), "too_many_signatures"),
    ):
        with pytest.raises(AuthError) as caught:
            stripe.authenticate(body, {"stripe-signature": header}, {}, "whsec_x", now=2)
        assert caught.value.reason == reason
    with pytest.raises(AuthError) as caught:  # two v1 (a secret being rolled) are still compared
        stripe.authenticate(body, {"stripe-signature": "t=1,v1=aa,v1=bb"}, {}, "whsec_x", now=2)
    assert caught.value.reason == "bad_signature"


def test_role_problems() -> None:
    assert problems(("trackai_app_rw", False, False, [])) == []
    assert problems(("postgres", True, False, ["trackai_migration_admin"])) == [
        "role postgres is a superuser",
        "role postgres owns or can act as the owner of the tables (trackai_migration_admin)",
    ]
    assert problems(("r", False, True, [])) == ["role r has BYPASSRLS"]


@pytest.mark.integration
def test_refusals_land_as_counts_and_an_address_over_budget_gets_429(pg_url, conn, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    settings = Settings(
        metrics_port=0,
        webhook_refusals_per_address_per_min=4,
        webhook_refusals_per_address_tenant_per_min=3,
        refusal_limit_exempt_networks="198.51.100.0/24",
        refusal_flush_seconds=3600,  # flushed by hand below
    )
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("127.0.0.1", 1)) as client:
        path = f"/api/v1/webhooks/hotmart/{tenant_id}"
        body = json.dumps({"id": "x"})

        def post(address: str):
            return client.post(
                path, content=body, headers={"X-HOTMART-HOTTOK": "wrong", "X-Forwarded-For": address}
            )

        codes = [post("203.0.113.5").status_code for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        limited = post("203.0.113.5")
        assert int(limited.headers["Retry-After"]) <= 60 and "address" in limited.json()["detail"]
        # Over its budget for this tenant, the address still gets a correctly signed delivery accepted.
        real = client.post(
            path,
            content=json.dumps(build_payload("hotmart", order_id="HP-real")),
            headers={"X-HOTMART-HOTTOK": secrets["hotmart"], "X-Forwarded-For": "203.0.113.5"},
        )
        assert real.json() == {"status": "accepted"}
        assert post("203.0.113.6").status_code == 401  # another address has its own budget
        assert {post("198.51.100.9").status_code for _ in range(6)} == {401}  # exempt network
        unknown = client.post(
            f"/api/v1/webhooks/hotmart/{uuid.uuid4()}", content=body, headers={"X-HOTMART-HOTTOK": "x"}
        )
        assert unknown.status_code == 401
        # Made-up tenants from one address: past 4, everything from it is 429 before any work.
        made_up = [
            client.post(
                f"/api/v1/webhooks/hotmart/{uuid.uuid4()}",
                content=body,
                headers={"X-HOTMART-HOTTOK": "x", "X-Forwarded-For": "203.0.113.7"},
            ).status_code
            for _ in range(6)
        ]
        assert made_up == [401, 401, 401, 401, 429, 429]
        assert post("203.0.113.7").status_code == 429  # the known tenant too, from that address
        assert conn.execute("SELECT count(*) FROM landing.webhook_rejections").fetchone() == (0,)
        client.portal.call(app.state.ingest.refusals.flush)
    rows = conn.execute(
        "SELECT tenant_ref, tenant_id::text, gateway, reason, http_status, sum(hits)::int"
        " FROM landing.webhook_rejections GROUP BY 1, 2, 3, 4, 5"
    ).fetchall()
    assert sorted(rows, key=str) == sorted(
        [
            (tenant_id, tenant_id, "hotmart", "bad_token", 401, 3 + 1 + 6),
            ("unknown", None, "hotmart", "address_limited", 429, 3 + 3),  # never attributed to the tenant
            ("unknown", None, "hotmart", "unknown_tenant", 401, 1 + 4),
        ],
        key=str,
    )


@pytest.mark.integration
def test_oversized_bodies_count_for_a_tenant_only_within_the_address_budget(pg_url, make_tenant) -> None:
    """A real delivery over the cap must show in the tenant's success rate, but one address sending
    oversized bodies cannot fail it: past its budget for the tenant it gets 429, unattributed."""
    tenant_id, _ = make_tenant()
    settings = Settings(
        metrics_port=0, webhook_refusals_per_address_tenant_per_min=2, refusal_flush_seconds=3600
    )
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_app_rw"))
    big = b'{"pad":"' + b"x" * 70_000 + b'"}'  # over Hotmart's 64 KiB
    with TestClient(app) as client:
        codes = [
            client.post(
                f"/api/v1/webhooks/hotmart/{tenant_id}", content=big, headers={"X-HOTMART-HOTTOK": "x"}
            ).status_code
            for _ in range(4)
        ]
    assert codes == [413, 413, 429, 429]
    metrics = app.state.ingest.metrics
    assert metrics.rejections.labels("hotmart", "body_too_large")._value.get() == 2
    assert metrics.unattributed.labels("hotmart", "address_limited")._value.get() == 2
