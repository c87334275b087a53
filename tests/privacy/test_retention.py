"""Retention (issue 23): raw payload fields that hold PII are never stored — every gateway's delivery with
the buyer's email, phone, name and tax id lands only hashes/redactions (every column of every table is
scanned); the encrypted quarantine holds no plaintext either."""

from __future__ import annotations

import json
import re
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from tests.support.scan import text_cells
from trackai import db
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration
EMAIL, PHONE = "Retention.Buyer@Example.com", "(31) 99876-5432"


def _all_text(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(where, value.lower()) for where, value in text_cells(conn, all_types=True)]


def test_raw_pii_fields_are_never_stored(pg_url, conn, make_tenant) -> None:
    tenant, gw = make_tenant()
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("198.51.100.70", 50000)) as client:
        for gateway in ("perfectpay", "hotmart", "kiwify", "stripe"):
            payload = build_payload(
                gateway, order_id=f"ret-{uuid.uuid4().hex[:10]}", email=EMAIL, phone=PHONE
            )
            text = json.dumps(payload)
            text = text.replace('"Comprador Teste"', '"Retencao Compradora"').replace(
                "12345678901", "98765432100"
            )
            headers, query, body = sign_request(gateway, gw[gateway], text.encode())
            resp = client.post(
                f"/api/v1/webhooks/{gateway}/{tenant}", content=body, headers=headers, params=query
            )
            assert resp.status_code == 200, (gateway, resp.text)
        # an unmappable delivery: kept, but only as ciphertext
        broken = json.dumps({"id": "evt_retention1", "type": "x", "data": {"object": "no", "email": EMAIL}})
        headers, query, body = sign_request("stripe", gw["stripe"], broken.encode())
        assert client.post(f"/api/v1/webhooks/stripe/{tenant}", content=body, headers=headers).json() == {
            "status": "quarantined"
        }
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.conversions WHERE tenant_id = %s AND email_hash IS NOT NULL",
            (tenant,),
        ).fetchone()[0]
        == 4
    )
    digits = re.sub(r"\D", "", PHONE)
    needles = [EMAIL.lower(), "retention.buyer", digits, "55" + digits, "98765432100", "retencao compradora"]
    hits = [(where, n) for where, value in _all_text(pg_url) for n in needles if n in value]
    assert hits == [], hits
