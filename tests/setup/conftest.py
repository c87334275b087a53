"""Fixtures of the setup assistant's tests: the Graph API fake, settings pointing at it, a tenant."""

from __future__ import annotations

import psycopg
import pytest

from trackai.settings import REPO_ROOT, Settings
from trackai.setup.tools import SetupContext
from trackai_cli.capi_mock import MockConfig, MockServer

PIXEL = "123456789012"


@pytest.fixture(scope="module")
def graph():
    with MockServer(MockConfig(seed=16)) as server:
        yield server


@pytest.fixture
def settings(graph, tmp_path) -> Settings:
    graph.reset()
    graph.configure(
        revoked_tokens=[],
        expiring_tokens={},
        token_scopes={},
        token_pixels={},
        test_events_received=None,
        reject_event_ids=[],
        fail_rate=0.0,
    )
    return Settings(
        meta_graph_url=graph.url,
        public_base_url="https://track.example.com.br",
        capi={"timeout_seconds": 1.0},
        setup={"probe_timeout_seconds": 3.0},
        console={"public_url": "http://127.0.0.1:8090"},
    )


@pytest.fixture
def tenant(make_tenant):
    tenant_id, _ = make_tenant("Setup Seller", pixel_id=PIXEL, meta_token="tok-" + PIXEL)
    return tenant_id


@pytest.fixture
def ctx(pg_url, settings):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield SetupContext(conn, settings)


MESSAGES_FILE = REPO_ROOT / ".trackai" / "setup-messages.md"


@pytest.fixture(scope="session", autouse=True)
def _record_answers():
    """Every answer the tools give in these tests, first one per (tool, code), written to
    .trackai/setup-messages.md: the messages of the closing note come from real runs, not from the catalog."""
    from trackai.core import setup_result

    seen: dict[tuple[str, str], setup_result.ToolResult] = {}
    original = setup_result.result

    def recording(tool, code, observed=None, event_id=None):
        answer = original(tool, code, observed, event_id)
        seen.setdefault((tool, code), answer)
        return answer

    setup_result.result = recording
    yield
    setup_result.result = original
    if not seen:
        return
    lines = ["# Setup tools: answers recorded from the test run (first per tool and code)", ""]
    for tool in setup_result.TOOLS:
        lines += [f"## {tool}", ""]
        for (t, code), a in sorted(seen.items(), key=lambda kv: (kv[1].status != "pass", kv[0][1])):
            if t != tool:
                continue
            lines += [
                f"- **{code}** ({a.status})",
                f"  - pt-BR: {a.message.pt} → {a.next_action.pt}",
                f"  - en: {a.message.en} → {a.next_action.en}",
            ]
        lines.append("")
    MESSAGES_FILE.parent.mkdir(parents=True, exist_ok=True)
    MESSAGES_FILE.write_text("\n".join(lines), encoding="utf-8")
