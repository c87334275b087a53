"""validate_meta_token, send_test_capi_event and generate_tracking_snippet: the good case and each failure
they name, against the Graph API fake (debug_token scopes/expiry, pixel read, test_event_code)."""

from __future__ import annotations

import time

import pytest

from tests.setup.conftest import PIXEL
from trackai import tenants
from trackai.net import free_port
from trackai.settings import Settings
from trackai.setup import gates, tools

TOKEN = "tok-" + PIXEL


def tenant_without_token(ctx, make_tenant) -> str:
    tenant_id, _ = make_tenant("No token", pixel_id=PIXEL, meta_token=TOKEN)
    ctx.conn.execute(
        "DELETE FROM core.tenant_secrets WHERE tenant_id = %s AND kind = 'meta_token'", (tenant_id,)
    )
    return tenant_id


def _token_status(ctx, tenant_id):
    return ctx.conn.execute(
        "SELECT status, error_code, expires_at IS NOT NULL FROM ops.meta_token_status WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()


def test_meta_token_ok(ctx, tenant):
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.status, r.code) == ("pass", "ok"), r
    assert "ads_management" in r.observed["scope_list"] and r.observed["pixel_name"] == f"Pixel {PIXEL}"
    assert PIXEL in r.message.pt and PIXEL in r.message.en
    # the verdict is what the account card and the token alarm read
    assert _token_status(ctx, tenant)[0] == "ok"


def test_meta_token_verdict_blocks_and_unblocks_sending(ctx, tenant, graph):
    """A revoked token recorded by the assistant stops sending like a code 190 would; once the seller
    fixes it and the assistant sees it valid, the block is lifted (the dispatcher reads the same row)."""
    from trackai.dispatch import store

    graph.configure(revoked_tokens=[TOKEN])
    tools.validate_meta_token(ctx, tenant)
    assert _token_status(ctx, tenant)[:2] == ("invalid", 190)
    assert tenant in store.blocked_tenants(ctx.conn)
    graph.configure(revoked_tokens=[])
    assert tools.validate_meta_token(ctx, tenant).code == "ok"
    assert _token_status(ctx, tenant)[:2] == ("ok", None)
    assert tenant not in store.blocked_tenants(ctx.conn)


def test_meta_token_missing(ctx, make_tenant):
    tenant_id = tenant_without_token(ctx, make_tenant)
    r = tools.validate_meta_token(ctx, tenant_id)
    assert (r.status, r.code) == ("fail", "no_token")
    assert "Usuários do sistema" in r.next_action.pt and "System users" in r.next_action.en


def test_meta_token_revoked(ctx, tenant, graph):
    graph.configure(revoked_tokens=[TOKEN])
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.status, r.code, r.observed["error_code"], r.observed["error_subcode"]) == (
        "fail",
        "token_invalid",
        190,
        463,
    )


def test_meta_token_expired_and_expiring(ctx, tenant, graph):
    graph.configure(expiring_tokens={TOKEN: int(time.time()) - 60})
    assert tools.validate_meta_token(ctx, tenant).code == "token_expired"
    graph.configure(expiring_tokens={TOKEN: int(time.time()) + 2 * 86400})
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.status, r.code) == ("warn", "token_expiring") and r.observed["hours_left"] in (47, 48)
    assert _token_status(ctx, tenant) == ("ok", None, True)  # 48 h left: not yet inside the alarm's 24 h
    graph.configure(expiring_tokens={TOKEN: int(time.time()) + 3600})
    tools.validate_meta_token(ctx, tenant)
    assert _token_status(ctx, tenant)[0] == "expiring"


def test_meta_token_missing_scope(ctx, tenant, graph):
    graph.configure(token_scopes={TOKEN: ["business_management"]})
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.code, r.observed["missing_scopes"]) == ("missing_scopes", "ads_management")


def test_meta_token_cannot_use_pixel(ctx, tenant, graph):
    graph.configure(token_pixels={TOKEN: ["555555555"]})
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.code, r.observed["error_code"], r.observed["error_subcode"]) == (
        "pixel_not_accessible",
        100,
        33,
    )
    assert f"{PIXEL} com 'Gerenciar'" in r.next_action.pt


def test_meta_token_graph_unreachable(ctx, tenant):
    ctx.settings = Settings(meta_graph_url=f"http://127.0.0.1:{free_port()}", capi={"timeout_seconds": 0.5})
    r = tools.validate_meta_token(ctx, tenant)
    assert (r.status, r.code) == ("fail", "graph_unreachable") and "ConnectError" in r.observed["graph_error"]
    assert _token_status(ctx, tenant) is None  # nothing known: nothing recorded


# ------------------------------------------------------------------------------------ send_test_capi_event
def _attempts(ctx, event_id):
    return ctx.conn.execute(
        "SELECT status, http_status, is_test, gateway FROM ops.dispatch_attempts WHERE event_id = %s",
        (event_id,),
    ).fetchall()


def test_test_event_received_records_attempt_and_gate(ctx, tenant, graph):
    assert gates.latest_pass(ctx.conn, tenant) is None
    r = tools.send_test_capi_event(ctx, tenant, "TEST4242")
    assert (r.status, r.code, r.observed["events_received"]) == ("pass", "ok", 1), r
    sent = [e for e in graph.events if e["event_id"] == r.event_id]
    assert (
        len(sent) == 1 and sent[0]["_test_event_code"] == "TEST4242" and sent[0]["event_name"] == "Purchase"
    )
    assert _attempts(ctx, r.event_id) == [("success", 200, True, tools.TEST_GATEWAY)]
    gate = gates.latest_pass(ctx.conn, tenant)
    assert gate is not None and gate.event_id == r.event_id and gate.actor == "operator"


def test_test_event_uses_tenant_code_or_refuses_without_one(ctx, make_tenant, graph):
    with_code, _ = make_tenant("With code", pixel_id=PIXEL, meta_token=TOKEN, test_event_code="TEST777")
    r = tools.send_test_capi_event(ctx, with_code)
    assert r.code == "ok" and r.observed["test_event_code"] == "TEST777"
    without, _ = make_tenant("No code", pixel_id=PIXEL, meta_token=TOKEN)
    before = len(graph.events)
    r = tools.send_test_capi_event(ctx, without)
    assert (r.status, r.code) == ("fail", "no_test_code") and len(graph.events) == before
    assert gates.latest_pass(ctx.conn, without) is None


def test_test_event_failures(ctx, tenant, graph, make_tenant):
    no_token = tenant_without_token(ctx, make_tenant)
    assert tools.send_test_capi_event(ctx, no_token, "TEST1").code == "no_token"

    graph.configure(revoked_tokens=[TOKEN])
    r = tools.send_test_capi_event(ctx, tenant, "TEST1")
    assert (r.code, r.observed["error_code"]) == ("token_invalid", 190)
    assert _attempts(ctx, r.event_id)[0][:3] == ("blocked", 400, True)  # as dispatch records a token error

    graph.configure(revoked_tokens=[], token_pixels={TOKEN: ["555555555"]})
    r = tools.send_test_capi_event(ctx, tenant, "TEST1")
    assert (r.code, r.observed["error_subcode"]) == ("pixel_not_accessible", 33)

    graph.configure(token_pixels={}, test_events_received=0)
    r = tools.send_test_capi_event(ctx, tenant, "TEST1")
    assert (r.code, r.observed["events_received"]) == ("not_received", 0)

    graph.configure(test_events_received=None, reject_event_ids=["setup-test-*"])
    r = tools.send_test_capi_event(ctx, tenant, "TEST1")
    assert (r.code, r.observed["error_code"]) == ("event_refused", 100)

    graph.configure(reject_event_ids=[], fail_rate=1.0)
    r = tools.send_test_capi_event(ctx, tenant, "TEST1")
    assert (r.code, r.observed["attempts"]) == ("graph_unavailable", 2)
    assert all(a[2] for a in _attempts(ctx, r.event_id))
    assert gates.latest_pass(ctx.conn, tenant) is None  # no failure ever opens the gate


# ------------------------------------------------------------------------------- generate_tracking_snippet
@pytest.mark.parametrize("platform", ["hotmart", "kiwify", "perfectpay", "stripe", "html", "wordpress"])
def test_snippet_per_platform(ctx, tenant, platform):
    r = tools.generate_tracking_snippet(ctx, tenant, platform)
    assert (r.status, r.code) == ("pass", "ok")
    assert r.observed["snippet"].startswith('<script async src="https://track.example.com.br/api/v1/snippet/')
    assert tenant in r.observed["snippet"] and "</body>" in r.next_action.pt
    if platform in tenants.GATEWAYS:
        assert f"platform={platform}" in r.observed["snippet"]


def test_snippet_unknown_platform(ctx, tenant):
    r = tools.generate_tracking_snippet(ctx, tenant, "shopify")
    assert (r.status, r.code) == ("fail", "unknown_platform") and "wordpress" in r.message.en
