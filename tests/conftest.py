"""Shared fixtures. Every module that touches Postgres gets its own throwaway, migrated database.

The server is ``TRACKAI_TEST_DATABASE_URL`` when set (any database on it; e.g. the machine's
127.0.0.1:5432), otherwise the embedded pgserver default. The developer's ``trackai`` database is
never used: each module creates ``trackai_test_<module>_<random>`` and drops it afterwards.
"""

from __future__ import annotations

import os
import re
import secrets as pysecrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from trackai import db, embedded_pg, migrations
from trackai.settings import REPO_ROOT, reset_settings_cache

TEST_SECRET_KEY = "dGVzdC1rZXktMzItYnl0ZXMtbG9uZy4uLi4uLi4uLi4="  # base64 of 32 bytes, tests only


def pytest_configure(config: pytest.Config) -> None:
    os.environ["TRACKAI_SECRET_KEY"] = TEST_SECRET_KEY
    os.environ["TRACKAI_ENV"] = "development"
    os.environ.pop("TRACKAI_DATABASE_URL", None)
    reset_settings_cache()


@pytest.fixture(autouse=True)
def _no_dead_dagster_instance_in_context() -> Iterator[None]:
    """Dagster keeps the current instance's state storage in a context variable; instances whose contexts
    end out of order (a module-scoped instance beside a test's own) can leave it pointing at an instance
    that is gone, and the next materialize() then fails with "undefined DagsterInstance weakref"."""
    yield
    base = sys.modules.get("dagster._core.storage.defs_state.base")  # only when a test imported Dagster
    current = base._current_storage.get() if base is not None else None
    ref = getattr(current, "_instance_weakref", None)
    if ref is not None and ref() is None:
        base._current_storage.set(None)


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch):
    """Set an environment variable for this test and make the next get_settings() read it."""

    def _set(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        reset_settings_cache()

    yield _set
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Maintenance-database URL of the server the suite runs against."""
    configured = os.environ.get("TRACKAI_TEST_DATABASE_URL")
    if configured:
        return db.with_database(configured, "postgres")
    return embedded_pg.ensure_running(REPO_ROOT / ".trackai")


def _module_db_name(request: pytest.FixtureRequest) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", Path(str(request.node.fspath)).stem.lower())[:30]
    return f"trackai_test_{stem}_{pysecrets.token_hex(3)}"


@pytest.fixture(scope="module")
def pg_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A fresh migrated database for this test module; TRACKAI_DATABASE_URL points at it meanwhile."""
    name = _module_db_name(request)
    db.ensure_database(pg_server_url, name)
    url = db.with_database(pg_server_url, name)
    migrations.upgrade(url, REPO_ROOT / "sql")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACKAI_DATABASE_URL", url)
        reset_settings_cache()
        yield url
    reset_settings_cache()
    db.drop_database(pg_server_url, name)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def make_tenant(conn: psycopg.Connection):
    """Create a tenant with every gateway secret set; returns (tenant_id, secrets dict)."""
    from trackai import tenants

    def _make(name: str = "Test Seller", **overrides) -> tuple[str, dict[str, str]]:
        suffix = pysecrets.token_hex(4)
        gateway_secrets = tenants.generated_gateway_secrets()
        gateway_secrets.update(overrides.pop("gateway_secrets", {}))
        tenant_id = tenants.create_tenant(
            conn,
            name=f"{name} {suffix}",
            pixel_id=overrides.pop("pixel_id", "1234567890"),
            meta_token=overrides.pop("meta_token", f"meta-token-{suffix}"),
            gateway_secrets=gateway_secrets,
            **overrides,
        )
        return tenant_id, gateway_secrets

    return _make


# --- shared fixtures from tests/support (row builders: `from tests.support import rows`) -----------------


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium (Debian's, through Playwright) for this module; skipped without it, failed when
    CI=1 or TRACKAI_REQUIRE_BROWSER=1 (tests/support/browser.py)."""
    from tests.support.browser import launch_chromium

    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def http_receiver() -> Iterator:
    """A started LoopbackReceiver (tests/support/receiver.py) recording every request sent to its url."""
    from tests.support.receiver import LoopbackReceiver

    with LoopbackReceiver() as receiver:
        yield receiver


@pytest.fixture
def alert_webhook(http_receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """The shared receiver as TRACKAI_ALERT_WEBHOOK_URL (``<url>/hook``): what trackai.alerts.send_alert posts
    lands in ``alert_webhook.json_bodies("/hook")``."""
    monkeypatch.setenv("TRACKAI_ALERT_WEBHOOK_URL", f"{http_receiver.url}/hook")
    reset_settings_cache()
    yield http_receiver
    reset_settings_cache()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator:
    """Processes (tests/support/processes.py) logging under tmp_path; all stopped after the test."""
    from tests.support.processes import Processes

    with Processes(tmp_path / "processes") as procs:
        yield procs
