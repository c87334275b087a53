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
