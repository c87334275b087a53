"""Rollout flags per tenant and gateway (sql/0800, trackai.feature_flags, ``trackai flags``)."""

from __future__ import annotations

import json

import psycopg
import pytest

from trackai import feature_flags
from trackai.feature_flags import FlagError

pytestmark = pytest.mark.integration


def test_no_flag_means_enabled(conn, make_tenant):
    tenant_id, _ = make_tenant()
    assert feature_flags.disabled_gateways(conn, tenant_id) == frozenset()
    assert feature_flags.gateway_enabled(conn, tenant_id, "hotmart")


def test_a_tenant_flag_disables_one_gateway_of_one_tenant(conn, make_tenant):
    tenant_a, _ = make_tenant()
    tenant_b, _ = make_tenant()
    flag = feature_flags.set_flag(conn, "hotmart", False, tenant_id=tenant_a, reason="rollout wave 2")
    assert (flag.tenant_id, flag.gateway, flag.enabled, flag.reason) == (
        tenant_a,
        "hotmart",
        False,
        "rollout wave 2",
    )
    assert feature_flags.disabled_gateways(conn, tenant_a) == {"hotmart"}
    assert feature_flags.gateway_enabled(conn, tenant_a, "stripe")
    assert feature_flags.gateway_enabled(conn, tenant_b, "hotmart")
    feature_flags.set_flag(conn, "hotmart", True, tenant_id=tenant_a)  # upsert, not a second row
    assert feature_flags.gateway_enabled(conn, tenant_a, "hotmart")
    assert len([f for f in feature_flags.list_flags(conn, tenant_a) if f.tenant_id == tenant_a]) == 1


def test_the_default_applies_to_every_tenant_and_a_tenant_flag_wins(conn, make_tenant):
    early, _ = make_tenant()
    other, _ = make_tenant()
    feature_flags.set_flag(conn, "kiwify", False, reason="new adapter, opt-in")
    try:
        feature_flags.set_flag(conn, "kiwify", True, tenant_id=early)
        assert feature_flags.gateway_enabled(conn, early, "kiwify")
        assert not feature_flags.gateway_enabled(conn, other, "kiwify")
        assert feature_flags.clear_flag(conn, "kiwify", tenant_id=early)
        assert not feature_flags.gateway_enabled(conn, early, "kiwify")  # follows the default again
        assert [f.tenant_id for f in feature_flags.list_flags(conn, other)] == [None]
    finally:
        feature_flags.clear_flag(conn, "kiwify")
    assert feature_flags.gateway_enabled(conn, other, "kiwify")


def test_bad_input_is_refused_and_stores_nothing(conn, make_tenant):
    tenant_id, _ = make_tenant()
    with pytest.raises(FlagError, match="unknown gateway"):
        feature_flags.set_flag(conn, "eduzz", False, tenant_id=tenant_id)
    with pytest.raises(FlagError, match="invalid gateway"):
        feature_flags.set_flag(conn, "Hot Mart", False, tenant_id=tenant_id, allow_unknown_gateway=True)
    with pytest.raises(FlagError, match="invalid tenant"):
        feature_flags.set_flag(conn, "hotmart", False, tenant_id="not-a-uuid")
    with pytest.raises(FlagError, match="no tenant"):
        feature_flags.set_flag(conn, "hotmart", False, tenant_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(FlagError, match="200"):
        feature_flags.set_flag(conn, "hotmart", False, tenant_id=tenant_id, reason="x" * 201)
    assert feature_flags.list_flags(conn, tenant_id) == []
    # a gateway whose adapter has not shipped yet can be staged disabled
    feature_flags.set_flag(conn, "eduzz", False, allow_unknown_gateway=True)
    assert "eduzz" in feature_flags.disabled_gateways(conn, tenant_id)
    feature_flags.clear_flag(conn, "eduzz")


def test_the_ingest_role_reads_the_flags_and_cannot_change_them(conn, make_tenant):
    tenant_id, _ = make_tenant()
    feature_flags.set_flag(conn, "stripe", False, tenant_id=tenant_id)
    with conn.transaction():
        conn.execute("SET LOCAL ROLE trackai_app_rw")
        assert feature_flags.disabled_gateways(conn, tenant_id) == {"stripe"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE core.gateway_flags SET enabled = true")


def test_disabled_response_is_a_clear_403():
    status, body = feature_flags.disabled_response("hotmart")
    assert status == 403
    assert body["code"] == "gateway_disabled"
    assert "hotmart" in body["detail"] and "not landed" in body["detail"]


def test_cli_disable_list_clear(pg_url, make_tenant, setenv, capsys):
    from trackai_cli.cli import main

    tenant_id, _ = make_tenant()
    setenv("TRACKAI_DATABASE_URL", pg_url)
    assert main(["flags", "disable", "perfectpay", "--tenant", tenant_id, "--reason", "pilot"]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is False
    assert main(["flags", "list", "--tenant", tenant_id]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(f["gateway"], f["enabled"], f["reason"]) for f in listed] == [("perfectpay", False, "pilot")]
    assert main(["flags", "clear", "perfectpay", "--tenant", tenant_id]) == 0
    assert main(["flags", "clear", "perfectpay", "--tenant", tenant_id]) == 1  # nothing left to clear
    assert main(["flags", "disable", "nope", "--tenant", tenant_id]) == 1
    assert "unknown gateway" in capsys.readouterr().err
