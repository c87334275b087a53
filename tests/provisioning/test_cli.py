"""``trackai provision`` against the fakes: run, status, the snippet, a manual rollback."""

from __future__ import annotations

import json

from trackai.settings import reset_settings_cache
from trackai_cli.cli import main
from trackai_cli.provision_fakes.server import ProvisionFakes


def test_cli_runs_resumes_reports_and_rolls_back(
    conn, tenant: str, fakes: ProvisionFakes, monkeypatch, capsys
) -> None:
    for name, value in fakes.environment().items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    try:
        assert main(["provision", "--tenant", tenant, "--slug", "loja-cli"]) == 0
        out = capsys.readouterr().out
        assert "state=waiting" in out and "gtm_publish      blocked" in out
        assert main(["provision", "--tenant", tenant, "--status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert [s["state"] for s in status["steps"]] == ["done", "done", "done", "done", "blocked"]
        assert status["steps"][0]["external_ids"]["name"] == f"loja-cli.track.{fakes.base_domain}"

        assert main(["provision", "--tenant", tenant, "--snippet"]) == 0
        snippet = capsys.readouterr().out
        assert "crypto.subtle.digest" in snippet and "GTM is not published" in snippet

        assert main(["provision", "--tenant", tenant, "--rollback", "--json"]) == 0
        rolled = json.loads(capsys.readouterr().out)
        assert rolled["state"] == "rolled_back"
        assert [s["state"] for s in rolled["steps"][:3]] == ["compensated"] * 3
        assert fakes.cloudflare.records_named(f"loja-cli.track.{fakes.base_domain}") == []
        assert fakes.stape.named("trackai-loja-cli") == []
    finally:
        reset_settings_cache()


def test_demo_step_provisions_every_demo_tenant_and_publishes_the_first(conn, make_tenant) -> None:
    from trackai.setup import gates
    from trackai_cli.provision_fakes.demo import SCRIPTED_APPROVER, run_provisioning_demo

    specs = []
    for name in ("Demo Um", "Demo Dois"):
        tenant_id, _ = make_tenant(name=name)
        gates.record_pass(conn, tenant_id, "test_capi_event", "d" * 64, "demo", {})
        specs.append({"tenant_id": tenant_id, "name": name})
    url = conn.info.dsn
    for _ in range(2):  # a second demo (fresh fakes) starts afresh instead of resuming a stale run
        lines = run_provisioning_demo(url, specs)
        assert "succeeded" in lines[0] and "gtm_publish:done" in lines[0]
        assert "waiting" in lines[1] and "gtm_publish:blocked" in lines[1]
        assert "2 CNAME (proxied=false), 2 Stape containers, 2 GTM containers, 1 published" in lines[2]
    approver = conn.execute(
        "SELECT DISTINCT approved_by FROM provisioning.approvals WHERE tenant_id = %s",
        (specs[0]["tenant_id"],),
    ).fetchall()
    assert approver == [(SCRIPTED_APPROVER,)]
