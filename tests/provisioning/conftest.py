"""Fixtures of the provisioning tests: the three API fakes on loopback, Settings pointing at them, and a
tenant per test."""

from __future__ import annotations

import secrets as pysecrets
import tempfile
from collections.abc import Iterator

import psycopg
import pytest

from dagster_project.lib import dbt_runner
from trackai.settings import Settings
from trackai_cli.provision_fakes.server import ProvisionFakes


@pytest.fixture(scope="module")
def fakes() -> Iterator[ProvisionFakes]:
    with ProvisionFakes() as running:
        yield running


@pytest.fixture
def settings(fakes: ProvisionFakes, pg_url: str) -> Settings:
    fakes.stape.stuck = False
    fakes.cloudflare.faults.clear()
    fakes.stape.faults.clear()
    fakes.gtm.faults.clear()
    return Settings(database_url=pg_url, provision=fakes.provision_settings())


@pytest.fixture
def tenant(conn: psycopg.Connection, make_tenant) -> str:
    tenant_id, _ = make_tenant(name=f"Loja Ção {pysecrets.token_hex(2)}")
    return tenant_id


@pytest.fixture(scope="module")
def console_marts(pg_url: str) -> None:
    """The mart every console page's header reads (the tenant's name), built by dbt as in production."""
    with tempfile.TemporaryDirectory() as target:
        dbt_runner.build(
            pg_url,
            select="+console_tenant_setup +console_webhook_rejections",
            target_path=target,
            capture=True,
        )
