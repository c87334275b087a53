"""A gateway disabled by a rollout flag (trackai.feature_flags) answers 403 gateway_disabled at the webhook
route after authentication and lands nothing; enabled again, the gateway's retry lands normally."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db, feature_flags
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration


def _client(pg_url: str) -> TestClient:
    """A fresh app (and tenant cache) as the ingest role, the way production runs it."""
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    return TestClient(app, client=("203.0.113.9", 50000))


def _post(client: TestClient, gateway: str, tenant_id: str, secret: str, order_id: str):
    body = json.dumps(build_payload(gateway, order_id=order_id, email="buyer@example.com")).encode()
    headers, query, body = sign_request(gateway, secret, body)
    return client.post(f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers, params=query)


def _landed(conn, tenant_id: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM landing.webhook_events WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()[0]


@pytest.mark.parametrize("gateway", ["hotmart", "stripe"])
def test_disabled_gateway_is_refused_after_authentication_and_lands_nothing(
    pg_url, conn, make_tenant, gateway
):
    tenant_id, secrets = make_tenant()
    feature_flags.set_flag(conn, gateway, False, tenant_id=tenant_id, reason="rollout")
    with _client(pg_url) as client:
        refused = _post(client, gateway, tenant_id, secrets[gateway], f"flag-{gateway}")
        assert refused.status_code == 403
        assert refused.json() == feature_flags.disabled_response(gateway)[1]
        forged = _post(client, gateway, tenant_id, "not-the-secret", f"flag-{gateway}-forged")
        assert forged.status_code == 401  # a caller without the secret learns nothing about flags
        other = next(g for g in ("kiwify", "perfectpay") if g != gateway)
        assert _post(client, other, tenant_id, secrets[other], f"flag-{other}").status_code == 200
    assert _landed(conn, tenant_id) == 1  # only the other gateway's delivery

    feature_flags.set_flag(conn, gateway, True, tenant_id=tenant_id)
    with _client(pg_url) as client:  # a new process: the 30 s tenant cache starts empty
        retried = _post(client, gateway, tenant_id, secrets[gateway], f"flag-{gateway}")
        assert retried.status_code == 200, retried.text
        assert retried.json() == {"status": "accepted"}
    assert _landed(conn, tenant_id) == 2


def test_the_default_flag_disables_every_tenant_until_one_opts_in(pg_url, conn, make_tenant):
    pilot, pilot_secrets = make_tenant()
    other, other_secrets = make_tenant()
    feature_flags.set_flag(conn, "kiwify", False, reason="staged rollout")
    feature_flags.set_flag(conn, "kiwify", True, tenant_id=pilot)
    try:
        with _client(pg_url) as client:
            assert _post(client, "kiwify", pilot, pilot_secrets["kiwify"], "pilot-1").status_code == 200
            assert _post(client, "kiwify", other, other_secrets["kiwify"], "other-1").status_code == 403
    finally:
        feature_flags.clear_flag(conn, "kiwify")
    assert _landed(conn, other) == 0
