"""The ingest service against a real Postgres, connected as the least-privilege trackai_app_rw role."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db
from trackai.core.pii import sha256_hex
from trackai.core.session_id import new_session_id
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EMAIL = "Maria.Souza+Teste@Example.com"
PHONE = "(11) 98765-4321"
GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")


def make_client(pg_url: str, **overrides) -> TestClient:
    settings = Settings(**{"metrics_port": 0, **overrides})  # the internal listener on any free port
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_app_rw"))
    return TestClient(app, client=("203.0.113.9", 50000))


@pytest.fixture(scope="module")
def client(pg_url: str):
    with make_client(pg_url) as c:
        yield c


def post_webhook(client, gateway, tenant_id, secret, payload, *, now=None, path_tenant=None):
    body = json.dumps(payload).encode()
    headers, query, body = sign_request(gateway, secret, body, now=now)
    return client.post(
        f"/api/v1/webhooks/{gateway}/{path_tenant or tenant_id}", content=body, headers=headers, params=query
    )


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_accepted_then_duplicate_with_one_row(client, conn, make_tenant, gateway) -> None:
    tenant_id, secrets = make_tenant()
    payload = build_payload(
        gateway, order_id=f"ord-{gateway}", email=EMAIL, phone=PHONE, session_id="tai_Q2x9fKd3LmN8pR4sT6vW1y"
    )
    first = post_webhook(client, gateway, tenant_id, secrets[gateway], payload)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "accepted"}
    again = post_webhook(client, gateway, tenant_id, secrets[gateway], payload)
    assert again.json() == {"status": "duplicate"}
    rows = conn.execute(
        "SELECT status, amount, currency, session_id, email_hash, phone_hash FROM landing.conversions WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    assert rows == [
        (
            "approved",
            Decimal("197.0000"),
            "BRL",
            "tai_Q2x9fKd3LmN8pR4sT6vW1y",
            sha256_hex(EMAIL.lower()),
            sha256_hex("5511987654321"),
        )
    ]
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.webhook_events WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]
        == 1
    )


def test_refund_is_a_status_change_of_the_same_order(client, conn, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    for status in ("approved", "refunded"):
        r = post_webhook(
            client,
            "hotmart",
            tenant_id,
            secrets["hotmart"],
            build_payload("hotmart", order_id="HP77", status=status),
        )
        assert r.json() == {"status": "accepted"}
    assert conn.execute(
        "SELECT array_agg(status ORDER BY conversion_id) FROM landing.conversions WHERE tenant_id = %s AND order_id = 'HP77'",
        (tenant_id,),
    ).fetchone()[0] == ["approved", "refunded"]


def test_unknown_tenant_and_bad_signature_look_the_same(client, conn, make_tenant) -> None:
    tenant_a, secrets_a = make_tenant()
    tenant_b, _ = make_tenant()
    payload = build_payload("kiwify", order_id="k-x")
    bad = post_webhook(client, "kiwify", tenant_a, "wrong-token", payload)
    unknown = post_webhook(
        client, "kiwify", tenant_a, secrets_a["kiwify"], payload, path_tenant=str(uuid.uuid4())
    )
    not_uuid = post_webhook(
        client, "kiwify", tenant_a, secrets_a["kiwify"], payload, path_tenant="not-a-uuid"
    )
    cross = post_webhook(client, "kiwify", tenant_a, secrets_a["kiwify"], payload, path_tenant=tenant_b)
    assert {r.status_code for r in (bad, unknown, not_uuid, cross)} == {401}
    assert bad.json() == unknown.json() == not_uuid.json() == cross.json()
    missing = client.post(f"/api/v1/webhooks/kiwify/{tenant_a}", content=json.dumps(payload))
    assert missing.status_code == 401 and missing.json() == bad.json()
    client.portal.call(client.app.state.ingest.refusals.flush)  # counts land every few seconds
    reasons = conn.execute(
        "SELECT reason, sum(hits) FROM landing.webhook_rejections WHERE gateway = 'kiwify' GROUP BY reason"
    ).fetchall()
    assert dict(reasons)["unknown_tenant"] >= 2 and dict(reasons)["bad_signature"] >= 2
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.webhook_events WHERE tenant_id = %s", (tenant_b,)
        ).fetchone()[0]
        == 0
    )


def test_stripe_replay_outside_tolerance(client, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    payload = build_payload("stripe", order_id="pi_old")
    old = post_webhook(client, "stripe", tenant_id, secrets["stripe"], payload, now=time.time() - 301)
    assert old.status_code == 401 and "tolerance" in old.json()["detail"]
    fresh = post_webhook(client, "stripe", tenant_id, secrets["stripe"], payload)
    assert fresh.json() == {"status": "accepted"}


def test_unknown_gateway_oversize_and_quarantine(client, conn, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    r = client.post(f"/api/v1/webhooks/paypal/{tenant_id}", content=b"{}")
    assert r.status_code == 404 and "paypal" in r.json()["detail"]
    big = b'{"pad":"' + b"x" * (1024 * 1024) + b'"}'
    headers, query, _ = sign_request("kiwify", secrets["kiwify"], big)
    r = client.post(f"/api/v1/webhooks/kiwify/{tenant_id}", content=big, headers=headers, params=query)
    assert r.status_code == 413 and "detail" in r.json()
    for body in (b'{"order_status":"paid","Customer":{"email":"q@example.com"}}', b"not json at all"):
        headers, query, body = sign_request("kiwify", secrets["kiwify"], body)
        r = client.post(f"/api/v1/webhooks/kiwify/{tenant_id}", content=body, headers=headers, params=query)
        assert r.status_code == 202 and r.json() == {"status": "quarantined"}
    rows = conn.execute(
        "SELECT payload_ciphertext, error FROM landing.webhook_quarantine WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    assert len(rows) == 2 and all(r[0].startswith("gAAAA") for r in rows)
    from trackai.secrets import decrypt

    assert decrypt(rows[0][0]).startswith(b'{"order_status"')  # re-processable after a fix


def test_amount_too_large_for_the_column_is_quarantined_not_500(client, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    payload = build_payload("hotmart", order_id="HPbig", amount=Decimal("1e20"))
    assert post_webhook(client, "hotmart", tenant_id, secrets["hotmart"], payload).status_code == 202


def test_rate_limit_429_with_retry_after(pg_url, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    with make_client(pg_url, webhook_rate_limit_per_min=3, click_rate_limit_per_min=2) as c:
        codes = [
            post_webhook(
                c, "hotmart", tenant_id, secrets["hotmart"], build_payload("hotmart", order_id=f"r{i}")
            ).status_code
            for i in range(5)
        ]
        if codes[:3] != [200, 200, 200]:  # the minute window rolled over mid-test: try once more
            codes = [
                post_webhook(
                    c, "hotmart", tenant_id, secrets["hotmart"], build_payload("hotmart", order_id=f"s{i}")
                ).status_code
                for i in range(5)
            ]
        assert codes.count(429) >= 1
        limited = post_webhook(
            c, "hotmart", tenant_id, secrets["hotmart"], build_payload("hotmart", order_id="z")
        )
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        click = {"tenant_id": tenant_id, "session_id": new_session_id()}
        click_codes = [c.post("/api/v1/track/click", json=click).status_code for _ in range(4)]
        assert 429 in click_codes and 202 in click_codes


def test_click_builds_fbc_once_and_lands_identity(client, conn, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    session = new_session_id()
    before = int(time.time() * 1000)
    r = client.post(
        "/api/v1/track/click",
        content=json.dumps(
            {
                "tenant_id": tenant_id,
                "session_id": session,
                "event_type": "lead",
                "url": "https://lp.example.com/oferta?utm_source=facebook&fbclid=IwAR2_AbC-xyz&x=1",
                "referrer": "https://facebook.com/",
                "fbp": "fb.1.1731000000000.123456789",
                "email": EMAIL,
                "phone": PHONE,
            }
        ),
        headers={
            "Content-Type": "text/plain",
            "User-Agent": "Mozilla/5.0 test",
            "X-Forwarded-For": "1.2.3.4",
        },
    )
    assert r.status_code == 202, r.text
    fbc = r.json()["fbc"]
    prefix, ms, fbclid = fbc.split(".", 3)[0:2], int(fbc.split(".")[2]), fbc.split(".", 3)[3]
    assert prefix == ["fb", "1"] and before <= ms <= int(time.time() * 1000) and fbclid == "IwAR2_AbC-xyz"
    row = conn.execute(
        "SELECT event_type, fbclid, fbc, fbp, host(client_ip), user_agent, utm, email_hash FROM landing.clicks WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    # Peer 203.0.113.9 is not a trusted proxy: X-Forwarded-For is ignored.
    assert row == (
        "lead",
        "IwAR2_AbC-xyz",
        fbc,
        "fb.1.1731000000000.123456789",
        "203.0.113.9",
        "Mozilla/5.0 test",
        {"utm_source": "facebook"},
        sha256_hex(EMAIL.lower()),
    )
    ident = conn.execute(
        "SELECT session_id, phone_hash FROM landing.identities WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    assert ident == [(session, sha256_hex("5511987654321"))]
    assert r.json()["dropped"] == []
    # An fbc cookie for the same fbclid is kept verbatim.
    kept = "fb.1.1700000000000.IwAR2_AbC-xyz"
    r = client.post(
        "/api/v1/track/click",
        json={
            "tenant_id": tenant_id,
            "session_id": session,
            "fbc": kept,
            "url": "https://lp.example.com/?fbclid=IwAR2_AbC-xyz",
        },
    )
    assert r.json()["fbc"] == kept


def test_click_trusted_proxy_validation_and_cors(pg_url, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    session = new_session_id()
    with TestClient(
        create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw")),
        client=("127.0.0.1", 1),
    ) as c:
        r = c.post(
            "/api/v1/track/click",
            json={"tenant_id": tenant_id, "session_id": session},
            headers={"X-Forwarded-For": "198.51.100.7, 127.0.0.1", "Origin": "https://lp.example.com"},
        )
        assert r.status_code == 202 and r.headers["access-control-allow-origin"] == "*"
        with psycopg.connect(pg_url) as conn:
            assert conn.execute(
                "SELECT host(client_ip) FROM landing.clicks WHERE session_id = %s", (session,)
            ).fetchone() == ("198.51.100.7",)
        pre = c.options(
            "/api/v1/track/click",
            headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.status_code == 200
        assert (
            c.post(
                "/api/v1/track/click", json={"tenant_id": str(uuid.uuid4()), "session_id": session}
            ).status_code
            == 404
        )
        bad = c.post("/api/v1/track/click", json={"tenant_id": "nope"})
        assert bad.status_code == 422 and bad.json()["detail"]


def test_snippet_health_ready_metrics_docs(client, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    js = client.get(f"/api/v1/snippet/{tenant_id}.js", params={"platform": "hotmart"})
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert tenant_id in js.text and "pay.hotmart.com" in js.text and "buy.stripe.com" not in js.text
    assert "_fbc" in js.text and "/api/v1/track/click" in js.text
    assert client.get("/api/v1/snippet/nope.js").status_code == 404
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert client.get("/metrics").status_code == 404  # not on the public port
    port = client.app.state.ingest.metrics_port
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "trackai_ingest_requests_total" in metrics and "trackai_ingest_request_seconds_bucket" in metrics
    assert 'route="/api/v1/webhooks/{gateway}/{tenant_id}"' in metrics
    assert "trackai_ingest_webhook_rejections_total" in metrics
    assert "/api/v1/webhooks/{gateway}/{tenant_id}" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_database_down_answers_503_with_retry_after(make_tenant) -> None:
    app = create_app(
        Settings(metrics_port=0),
        database_url="postgresql://trackai_app_rw@127.0.0.1:1/none?connect_timeout=1",
    )
    with TestClient(app) as c:
        app.state.ingest.store.pool.timeout = 0.5
        r = c.post(
            f"/api/v1/webhooks/hotmart/{uuid.uuid4()}", content=b"{}", headers={"X-HOTMART-HOTTOK": "x"}
        )
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert c.get("/ready").status_code == 503
        assert c.get("/health").status_code == 200


def test_no_plaintext_pii_anywhere(client, conn, make_tenant) -> None:
    """Send every fixture plus clicks carrying PII, then scan every text/json column of every table."""
    tenant_id, secrets = make_tenant()
    for path in sorted(FIXTURES.glob("*.json")):
        gateway = path.name.split("_", 1)[0]
        payload = json.loads(path.read_text())
        r = post_webhook(client, gateway, tenant_id, secrets[gateway], payload)
        assert r.status_code == 200, (path.name, r.text)
    for gateway in GATEWAYS:
        payload = build_payload(gateway, order_id=f"pii-{gateway}", email=EMAIL, phone=PHONE)
        assert post_webhook(client, gateway, tenant_id, secrets[gateway], payload).status_code == 200
    client.post(
        "/api/v1/track/click",
        json={"tenant_id": tenant_id, "session_id": new_session_id(), "email": EMAIL, "phone": PHONE},
    )
    needles = [
        EMAIL.lower(),
        "maria.souza@example.com",
        "987654321",
        "98765-4321",
        "Comprador",
        "12345678901",
    ]
    columns = conn.execute(
        """
        SELECT table_schema, table_name, column_name FROM information_schema.columns
         WHERE table_schema IN ('landing', 'core', 'ops') AND data_type IN ('text', 'jsonb', 'json', 'character varying')
        """
    ).fetchall()
    assert len(columns) > 20
    for schema, table, column in columns:
        for needle in needles:
            hit = conn.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" WHERE lower("{column}"::text) LIKE %s',
                (f"%{needle.lower()}%",),
            ).fetchone()[0]
            assert hit == 0, (schema, table, column, needle)
