"""Fixtures of the setup assistant's tests: the Graph API fake, settings pointing at it, a tenant."""

from __future__ import annotations

import psycopg
import pytest

from trackai.settings import Settings
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
