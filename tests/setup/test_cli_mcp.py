"""The CLI (`trackai setup <tool>`: JSON out, exit 1 on a failed step, 2 on bad input; `trackai setup
transcript`) and the MCP server (`trackai mcp`): an MCP client of the official SDK lists the six tools with
their JSON schemas and calls every one, in process and over stdio, and finds each call in the transcript
with actor 'agent'."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.setup.conftest import PIXEL
from trackai.core.setup_specs import TOOL_SPECS
from trackai.setup import transcript
from trackai_cli.mcp_server import build_server
from trackai_cli.setup_fakes.landing import LandingFake


def cli(pg_url, graph, *args):
    env = {
        **os.environ,
        "TRACKAI_DATABASE_URL": pg_url,
        "TRACKAI_META_GRAPH_URL": graph.url,
        "TRACKAI_ALERT_WEBHOOK_URL": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "trackai_cli.cli", "setup", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_json_exit_codes_and_transcript(pg_url, graph, settings, tenant):
    ok = cli(pg_url, graph, "send_test_capi_event", "--tenant", tenant, "--test-event-code", "TEST31")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert (out["status"], out["code"], out["observed"]["events_received"]) == ("pass", "ok", 1)
    bad = cli(pg_url, graph, "generate_tracking_snippet", "--tenant", tenant, "--platform", "html")
    assert bad.returncode == 0
    failed = cli(pg_url, graph, "probe_landing_url", "--tenant", tenant, "--url", "ftp://nowhere")
    assert failed.returncode == 1 and json.loads(failed.stdout)["code"] == "invalid_url"
    unknown = cli(pg_url, graph, "validate_meta_token", "--tenant", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "unknown tenant" in unknown.stderr
    gate = cli(pg_url, graph, "gate", "--tenant", tenant)
    assert gate.returncode == 0 and json.loads(gate.stdout)["event_id"] == out["event_id"]
    listing = cli(pg_url, graph, "transcript", "--tenant", tenant)
    lines = listing.stdout.strip().splitlines()
    assert listing.returncode == 0 and len(lines) == 3
    assert "probe_landing_url" in lines[0] and "invalid_url" in lines[0] and "operator" in lines[0]
    full = [
        json.loads(x)
        for x in cli(pg_url, graph, "transcript", "--tenant", tenant, "--json").stdout.splitlines()
    ]
    assert full[-1]["event_id"] == out["event_id"] and full[-1]["tool"] == "send_test_capi_event"


def _arguments(tenant: str, site_url: str) -> dict[str, dict]:
    return {
        "validate_meta_token": {"tenant_id": tenant},
        "validate_gateway_webhook": {"tenant_id": tenant, "gateway": "hotmart"},
        "probe_landing_url": {"tenant_id": tenant, "url": f"{site_url}/redirect-drop?fbclid=IwAR1"},
        "check_pixel_presence": {"tenant_id": tenant, "url": f"{site_url}/good"},
        "send_test_capi_event": {"tenant_id": tenant, "test_event_code": "TEST55"},
        "generate_tracking_snippet": {"tenant_id": tenant, "platform": "wordpress"},
    }


EXPECTED = {
    "validate_meta_token": "ok",
    "validate_gateway_webhook": "nothing_received",
    "probe_landing_url": "params_dropped",
    "check_pixel_presence": "snippet_other_tenant",  # the fake page carries the snippet of the tenant below
    "send_test_capi_event": "ok",
    "generate_tracking_snippet": "ok",
}


async def _drive(client, arguments):
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    results = {}
    for name, args in arguments.items():
        result = await client.call_tool(name, args)
        results[name] = (result.is_error, result.structured_content, json.loads(result.content[0].text))
    bad = await client.call_tool(
        "probe_landing_url", {"tenant_id": arguments["probe_landing_url"]["tenant_id"]}
    )
    return tools, results, bad


def _check(ctx, tenant, tools, results, bad, label):
    assert set(tools) == set(TOOL_SPECS)
    for name, tool in tools.items():
        assert tool.input_schema["required"][0] == "tenant_id"
        assert tool.input_schema == TOOL_SPECS[name].input_schema
    assert tools["validate_gateway_webhook"].input_schema["properties"]["gateway"]["enum"] == [
        "hotmart",
        "kiwify",
        "perfectpay",
        "stripe",
    ]
    for name, (is_error, structured, text) in results.items():
        assert structured["code"] == EXPECTED[name] == text["code"], (name, structured)
        assert is_error == (structured["status"] == "fail")
        assert structured["message"]["pt-BR"] and structured["next_action"]["en"]
    assert bad.is_error and "missing argument(s) url" in bad.content[0].text
    rows = [r for r in transcript.entries(ctx.conn, tenant, limit=50) if r["actor_label"] == label]
    assert {r["tool"] for r in rows} == set(TOOL_SPECS) and len(rows) == 6
    assert {r["actor"] for r in rows} == {"agent"}
    by_id = {r["entry_id"]: r for r in rows}
    for _name, (_, structured, _) in results.items():
        assert by_id[structured["transcript_entry_id"]]["code"] == structured["code"]


@pytest.fixture
def agent_tenant(make_tenant):
    tenant_id, _ = make_tenant("Agent Seller", pixel_id=PIXEL, meta_token="tok-" + PIXEL)
    return tenant_id


def test_mcp_client_in_process_lists_and_calls_all_six(ctx, settings, pg_url, agent_tenant, tenant):
    server = build_server(settings, pg_url, actor_label="in-process-agent")
    with LandingFake(PIXEL, tenant, settings.public_base_url) as site:

        async def main():
            async with Client(server) as client:
                return await _drive(client, _arguments(agent_tenant, site.url))

        tools, results, bad = anyio.run(main)
    _check(ctx, agent_tenant, tools, results, bad, "in-process-agent")


def test_mcp_client_over_stdio(ctx, settings, pg_url, graph, make_tenant, tenant):
    agent, _ = make_tenant("Stdio Seller", pixel_id=PIXEL, meta_token="tok-" + PIXEL)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "trackai_cli.cli", "mcp", "--agent-name", "stdio-agent"],
        env={
            **os.environ,
            "TRACKAI_DATABASE_URL": pg_url,
            "TRACKAI_META_GRAPH_URL": graph.url,
            "TRACKAI_PUBLIC_BASE_URL": settings.public_base_url,
            "TRACKAI_ALERT_WEBHOOK_URL": "",
        },
    )
    with LandingFake(PIXEL, tenant, settings.public_base_url) as site:

        async def main():
            async with Client(params, read_timeout_seconds=60) as client:
                return await _drive(client, _arguments(agent, site.url))

        tools, results, bad = anyio.run(main)
    _check(ctx, agent, tools, results, bad, "stdio-agent")
