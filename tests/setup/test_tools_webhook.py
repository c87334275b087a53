"""validate_gateway_webhook against a real `trackai serve` on loopback fed good and bad deliveries
(trackai_cli.setup_fakes.deliveries): verified, wrong token, bad signature, missing credential, stale Stripe
timestamp, unknown tenant, quarantined body, nothing received, no secret stored, refusals after a verified
delivery, and the wait for a test delivery."""

from __future__ import annotations

import threading
import time

import pytest

from tests.security.ingest_attack import free_port, start_service, stop_service
from trackai.setup import tools
from trackai_cli.setup_fakes.deliveries import deliver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ingest(pg_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("setup-ingest") / "ingest.log"
    env = {
        "TRACKAI_REFUSAL_FLUSH_SECONDS": "1",
        "TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN": "10000",
        "TRACKAI_METRICS_PORT": str(free_port()),
    }
    proc, base = start_service(pg_url, free_port(), log, env)
    assert proc.poll() is None, log.read_text()[-2000:]
    yield base
    stop_service(proc)


def _eventually(ctx, tenant, gateway, code, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        r = tools.validate_gateway_webhook(ctx, tenant, gateway)
        if r.code == code or time.monotonic() > deadline:
            return r
        time.sleep(0.3)


def test_verified_delivery(ctx, make_tenant, ingest):
    tenant, secrets = make_tenant()
    assert deliver(ingest, "hotmart", tenant, secrets["hotmart"]).status_code == 200
    r = _eventually(ctx, tenant, "hotmart", "ok")
    assert (r.status, r.code, r.observed["verified"]) == ("pass", "ok", 1), r


@pytest.mark.parametrize(
    ("gateway", "kind", "code", "panel_words"),
    [
        ("hotmart", "wrong_secret", "bad_token", "X-HOTMART-HOTTOK"),
        ("perfectpay", "wrong_secret", "bad_token", "Webhook - Vendas"),
        ("kiwify", "wrong_secret", "bad_signature", "?signature="),
        ("stripe", "wrong_secret", "bad_signature", "whsec_"),
        ("stripe", "stale_timestamp", "stale_timestamp", "NTP"),
    ],
)
def test_refusals_name_the_panel(ctx, make_tenant, ingest, gateway, kind, code, panel_words):
    tenant, secrets = make_tenant()
    assert deliver(ingest, gateway, tenant, secrets[gateway], kind).status_code == 401
    r = _eventually(ctx, tenant, gateway, code)
    assert (r.status, r.code, r.observed["verified"]) == ("fail", code, 0), r
    assert panel_words in r.next_action.pt + r.next_action.en


def test_missing_credential_unknown_tenant_and_nothing_received(ctx, make_tenant, ingest):
    tenant, secrets = make_tenant()
    assert tools.validate_gateway_webhook(ctx, tenant, "kiwify").code == "nothing_received"
    assert deliver(ingest, "kiwify", tenant, secrets["kiwify"], "missing_credential").status_code == 401
    r = _eventually(ctx, tenant, "kiwify", "missing_credential")
    assert r.code == "missing_credential" and "missing_signature" in r.observed["reasons"], r
    assert "?signature=" in r.next_action.pt
    other, other_secrets = make_tenant()
    assert (
        deliver(ingest, "perfectpay", other, other_secrets["perfectpay"], "unknown_tenant").status_code == 401
    )
    r = _eventually(ctx, other, "perfectpay", "unknown_tenant")
    assert r.code == "unknown_tenant" and other in r.next_action.en


def test_no_secret_and_quarantine_and_refused_after_verified(ctx, make_tenant, ingest):
    tenant, secrets = make_tenant()
    ctx.conn.execute("DELETE FROM core.tenant_secrets WHERE tenant_id = %s AND kind = 'stripe'", (tenant,))
    r = tools.validate_gateway_webhook(ctx, tenant, "stripe")
    assert (r.code, r.status) == ("no_secret", "fail") and "Signing secret" in r.next_action.en

    assert deliver(ingest, "hotmart", tenant, secrets["hotmart"], "unmappable").status_code == 202
    r = _eventually(ctx, tenant, "hotmart", "quarantined")
    assert (r.status, r.observed["quarantined"]) == ("warn", 1) and "2.0.0" in r.next_action.pt

    assert deliver(ingest, "kiwify", tenant, secrets["kiwify"]).status_code == 200
    ctx.conn.execute(  # a refusal counted in the minute after the verified delivery (the secret was rotated)
        """INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status, hits, created_at)
           VALUES (%s, %s, 'kiwify', 'bad_signature', 401, 2, now() + interval '1 minute')""",
        (tenant, tenant),
    )
    r = tools.validate_gateway_webhook(ctx, tenant, "kiwify")
    assert (r.status, r.code, r.observed["refused"]) == ("warn", "refused_after_verified", 2), r


def test_waits_for_the_test_delivery(ctx, make_tenant, ingest):
    tenant, secrets = make_tenant()
    timer = threading.Timer(1.5, deliver, (ingest, "stripe", tenant, secrets["stripe"]))
    timer.start()
    started = time.monotonic()
    r = tools.validate_gateway_webhook(ctx, tenant, "stripe", wait_seconds=20)
    timer.join()
    assert (r.code, r.observed["new_delivery_seen"]) == ("ok", True), r
    assert 1.0 < time.monotonic() - started < 15


def test_unknown_gateway(ctx, tenant):
    r = tools.validate_gateway_webhook(ctx, tenant, "paypal")
    assert (r.status, r.code) == ("fail", "unknown_gateway")
