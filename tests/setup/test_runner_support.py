"""One runner for every surface: the transcript of each call (inputs without secrets), and the person called
in — three consecutive failures of one step open exactly one support case, received by a loopback webhook;
a pass resets the streak and closes the case; the next streak opens a new one."""

from __future__ import annotations

import pytest

from tests.setup.conftest import PIXEL
from tests.setup.receiver import support_cases
from trackai.setup import runner, transcript
from trackai.setup.tools import SetupInputError


@pytest.fixture
def receiver(alert_webhook):
    return alert_webhook


def run(ctx, tool, **arguments):
    return runner.run_tool(
        ctx.conn, ctx.settings, tool, arguments, actor="seller", actor_label="maria@example.com"
    )


def test_transcript_records_every_call_without_secrets(ctx, tenant, graph):
    out = run(ctx, "send_test_capi_event", tenant_id=tenant, test_event_code="TEST99")
    assert out["status"] == "pass" and out["transcript_entry_id"] > 0
    run(ctx, "generate_tracking_snippet", tenant_id=tenant, platform="hotmart")
    rows = transcript.entries(ctx.conn, tenant)
    assert [r["tool"] for r in rows] == ["generate_tracking_snippet", "send_test_capi_event"]
    sent = rows[1]
    assert (sent["actor"], sent["actor_label"], sent["status"], sent["code"]) == (
        "seller",
        "maria@example.com",
        "pass",
        "ok",
    )
    assert sent["event_id"] == out["event_id"] and sent["inputs"]["test_event_code"] == "TEST99"
    assert sent["outputs"]["message"]["pt-BR"] and sent["outputs"]["next_action"]["en"]
    stored = ctx.conn.execute("SELECT inputs::text || outputs::text FROM setup.transcript").fetchall()
    assert not any("tok-" + PIXEL in row[0] for row in stored)  # the Meta token never lands in the transcript


def test_bad_input_is_refused_and_not_recorded(ctx, tenant):
    before = ctx.conn.execute("SELECT count(*) FROM setup.transcript").fetchone()[0]
    for tool, args in [
        ("nope", {"tenant_id": tenant}),
        ("probe_landing_url", {"tenant_id": tenant}),
        ("probe_landing_url", {"tenant_id": tenant, "url": "x", "extra": 1}),
        ("generate_tracking_snippet", {"tenant_id": "not-a-uuid"}),
        ("generate_tracking_snippet", {"tenant_id": "00000000-0000-0000-0000-000000000000"}),
    ]:
        with pytest.raises(SetupInputError):
            run(ctx, tool, **args)
    assert ctx.conn.execute("SELECT count(*) FROM setup.transcript").fetchone()[0] == before


def test_three_failures_open_exactly_one_case_reset_on_pass(ctx, tenant, graph, receiver):
    graph.configure(revoked_tokens=["tok-" + PIXEL])
    outs = [run(ctx, "validate_meta_token", tenant_id=tenant) for _ in range(4)]
    assert [o["consecutive_failures"] for o in outs] == [1, 2, 3, 4]
    assert [o["support_case"] for o in outs[:2]] == [None, None]
    case_id = outs[2]["support_case"]["case_id"]
    assert outs[2]["support_case"] == {"case_id": case_id, "opened": True, "notified": True}
    assert outs[3]["support_case"] == {"case_id": case_id, "open": True}  # the 4th failure opens nothing new
    cases = support_cases(receiver)
    assert len(cases) == 1, receiver.json_bodies("/hook")
    details = cases[0]["details"]
    assert details["step"] == "validate_meta_token" and len(details["tried"]) == 3
    assert all("not valid" in e for e in details["last_errors"])
    assert "System users" in details["suggested_fix"]["en"] and tenant in details["transcript_url"]
    # another step's failure does not count toward this streak
    assert run(ctx, "generate_tracking_snippet", tenant_id=tenant, platform="x")["consecutive_failures"] == 1

    graph.configure(revoked_tokens=[])
    passed = run(ctx, "validate_meta_token", tenant_id=tenant)
    assert passed["status"] == "pass" and passed["consecutive_failures"] == 0
    assert passed["support_case"] == {"case_id": case_id, "closed": True}
    closed = ctx.conn.execute(
        "SELECT closed_at IS NOT NULL, closed_reason FROM setup.support_cases WHERE case_id = %s", (case_id,)
    ).fetchone()
    assert closed == (True, "step passed: ok")

    graph.configure(revoked_tokens=["tok-" + PIXEL])
    again = [run(ctx, "validate_meta_token", tenant_id=tenant) for _ in range(3)]
    assert again[2]["support_case"]["opened"] and again[2]["support_case"]["case_id"] != case_id
    assert len(support_cases(receiver)) == 2
    (open_cases,) = ctx.conn.execute(
        "SELECT count(*) FROM setup.support_cases WHERE tenant_id = %s AND closed_at IS NULL", (tenant,)
    ).fetchone()
    assert open_cases == 1


def test_case_is_kept_when_no_webhook_is_configured(ctx, make_tenant, graph, setenv):
    setenv("TRACKAI_ALERT_WEBHOOK_URL", "")
    tenant_id, _ = make_tenant("Quiet", pixel_id=PIXEL, meta_token="tok-" + PIXEL)
    for _ in range(3):
        out = run(ctx, "generate_tracking_snippet", tenant_id=tenant_id, platform="shopify")
    assert out["support_case"]["opened"] and out["support_case"]["notified"] is False
    row = ctx.conn.execute(
        "SELECT notified, notify_error FROM setup.support_cases WHERE case_id = %s",
        (out["support_case"]["case_id"],),
    ).fetchone()
    assert row[0] is False and "TRACKAI_ALERT_WEBHOOK_URL" in row[1]


def test_demo_step_records_the_gate_for_each_tenant(ctx, make_tenant, graph, pg_url, setenv):
    from trackai.setup import gates
    from trackai_cli.setup_fakes.demo import run_setup_demo

    setenv("TRACKAI_META_GRAPH_URL", graph.url)
    setenv("TRACKAI_ALERT_WEBHOOK_URL", "")
    specs = []
    for name in ("Demo A", "Demo B"):
        tenant_id, secrets = make_tenant(name, pixel_id=PIXEL, meta_token="tok-" + PIXEL)
        specs.append({"tenant_id": tenant_id, "name": name, "gateway_secrets": secrets})
    lines = run_setup_demo(pg_url, specs)
    assert len(lines) == 3 and "send_test_capi_event pass/ok" in lines[0]
    assert "validate_gateway_webhook[hotmart] fail/nothing_received" in lines[1]
    for spec in specs:
        assert gates.latest_pass(ctx.conn, spec["tenant_id"]).actor == "operator"
