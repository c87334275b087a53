"""The buyer's names, address and birth date from the four gateways reach the Graph API fake hashed and
normalised: signed webhooks over HTTP -> landing.conversions -> micro-batch -> core.purchases -> dispatch
-> the fake. Nothing of them is stored in plaintext. A click's refusable fbc is normalised at ingest."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db
from trackai.core import customer
from trackai.core.pii import sha256_hex
from trackai.core.session_id import new_session_id
from trackai.dispatch import DispatchOptions, run_dispatch
from trackai.pipeline import batch
from trackai.settings import Settings
from trackai_cli.capi_mock import MockConfig, MockServer
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

H = sha256_hex
NAMES = {"fn": H("comprador"), "ln": H("teste")}
ADDRESS = {"ct": H("sãopaulo"), "st": H("sp"), "zp": H("01310100")}
EXPECTED = {  # what each gateway's documented fields give (gateways.md)
    "hotmart": {**NAMES, "zp": H("01310100"), "country": H("br")},
    "kiwify": {**NAMES, **ADDRESS},
    "perfectpay": {**NAMES, **ADDRESS, "country": H("br"), "db": H("19900131")},
    "stripe": {**NAMES, **ADDRESS, "country": H("br")},
}
PLAINTEXT = ("Comprador", "Teste", "Paulo", "01310", "1990-01-31", "Paulista")


@pytest.fixture(scope="module")
def fake():
    with MockServer(MockConfig(seed=14)) as server:
        yield server


@pytest.fixture(scope="module")
def client(pg_url):
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("203.0.113.14", 50000)) as c:
        yield c


def test_four_gateways_customer_fields_reach_the_fake_hashed(client, conn, make_tenant, fake, pg_url):
    tenant_id, secrets = make_tenant()
    for gateway in EXPECTED:
        payload = build_payload(
            gateway, order_id=f"cd-{gateway}", email="maria@example.com", phone="(11) 98765-4321"
        )
        headers, query, body = sign_request(gateway, secrets[gateway], json.dumps(payload).encode())
        answer = client.post(
            f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers, params=query
        )
        assert answer.status_code == 200, answer.text

    stored = conn.execute(
        "SELECT string_agg(payload_redacted::text, ' ') FROM landing.webhook_events WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()[0]
    assert not [text for text in PLAINTEXT if text in stored]

    batch.run_batch(pg_url, mode="incremental")
    columns = ", ".join(customer.COLUMNS.values())
    rows = conn.execute(
        f"SELECT gateway, {columns} FROM core.purchases WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    in_purchases = {r[0]: {k: v for k, v in zip(customer.KEYS, r[1:], strict=True) if v} for r in rows}
    assert in_purchases == EXPECTED

    fake.reset()
    settings = Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 2})
    summary = run_dispatch(conn, settings, sleep=lambda s: None, options=DispatchOptions())
    assert summary["sent"] == 4, summary
    at_fake = {e["custom_data"]["order_id"]: e["user_data"] for e in fake.events}
    for gateway, expected in EXPECTED.items():
        user_data = at_fake[f"cd-{gateway}"]
        assert {k: user_data[k] for k in customer.KEYS if k in user_data} == {
            k: [v] for k, v in expected.items()
        }, gateway
        assert user_data["em"] == [H("maria@example.com")] and user_data["ph"] == [H("5511987654321")]


def test_a_click_fbc_meta_would_refuse_is_normalised_once_at_ingest(client, conn, make_tenant):
    tenant_id, _ = make_tenant()
    session = new_session_id()
    answer = client.post(
        "/api/v1/track/click",
        json={
            "tenant_id": tenant_id,
            "session_id": session,
            "url": "https://lp.example.com/obrigado",
            "referrer": "https://lp.example.com/?fbclid=IwAR_Ref-Click",  # the landing URL lost it
            "fbc": "fb.1.1767220000.fb.1.1767210000.IwAR_Ref-Click",  # re-wrapped, in seconds
            "fbp": "fb.1.1767210000.42",
        },
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["fbc"] == "fb.1.1767210000000.IwAR_Ref-Click"  # same fbclid: the repaired value kept
    assert {(d["field"], d["reason"]) for d in body["dropped"]} == {
        ("fbc", "normalised"),
        ("fbp", "normalised"),
    }
    row = conn.execute(
        "SELECT fbc, fbp, fbclid FROM landing.clicks WHERE tenant_id = %s AND session_id = %s",
        (tenant_id, session),
    ).fetchone()
    assert row == ("fb.1.1767210000000.IwAR_Ref-Click", "fb.1.1767210000000.42", "IwAR_Ref-Click")
