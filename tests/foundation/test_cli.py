"""The console script: JSON out, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from trackai import tenants
from trackai.settings import REPO_ROOT


def run_cli(
    *args: str, env_url: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trackai_cli.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "TRACKAI_DATABASE_URL": env_url, **(env or {})},
        cwd=REPO_ROOT,
        timeout=60,
    )


def test_tenant_create_prints_webhook_urls(pg_url: str, tmp_path: Path) -> None:
    """Secrets come from stdin, an environment variable and a file; each is stored as given."""
    (tmp_path / "whsec").write_text("whsec_from_file\n")
    out = run_cli(
        "tenant",
        "create",
        "--name",
        "Loja",
        "--pixel-id",
        "123456789",
        "--meta-token",
        "-",
        "--gateway-secret-env",
        "kiwify=KIWI_TOKEN",
        "--gateway-secret-file",
        f"stripe={tmp_path / 'whsec'}",
        env_url=pg_url,
        stdin="EAAB-token-from-stdin\n",
        env={"KIWI_TOKEN": "kiwi-from-env"},
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    tenant_id = body["tenant_id"]
    assert body["webhooks"]["kiwify"]["url"].endswith(f"/api/v1/webhooks/kiwify/{tenant_id}")
    assert body["webhooks"]["kiwify"]["secret_configured"] is True
    assert body["webhooks"]["hotmart"]["secret_configured"] is False
    assert "using Postgres at" in out.stderr
    listed = json.loads(run_cli("tenant", "list", env_url=pg_url).stdout)
    assert tenant_id in [t["tenant_id"] for t in listed]
    with psycopg.connect(pg_url) as conn:
        stored = {k: tenants.get_secret(conn, tenant_id, k) for k in ("meta_token", "kiwify", "stripe")}
    assert stored == {
        "meta_token": "EAAB-token-from-stdin",
        "kiwify": "kiwi-from-env",
        "stripe": "whsec_from_file",
    }

    rotated = run_cli(
        "tenant", "set-secret", "--tenant", tenant_id, "--kind", "hotmart", "--secret", "-",
        env_url=pg_url, stdin="hottok-rotated\n",
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    with psycopg.connect(pg_url) as conn:
        assert tenants.get_secret(conn, tenant_id, "hotmart") == "hottok-rotated"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "create", "--name", "x", "--pixel-id", "abc", "--meta-token", "-"], "numeric Meta pixel"),
        (
            [
                "tenant",
                "create",
                "--name",
                "x",
                "--pixel-id",
                "12345",
                "--meta-token",
                "-",
                "--gateway-secret-env",
                "paypal=X",
            ],
            "unknown gateway 'paypal'",
        ),
        (
            [
                "tenant",
                "create",
                "--name",
                "x",
                "--pixel-id",
                "12345",
                "--meta-token",
                "-",
                "--gateway-secret-env",
                "stripe",
            ],
            "GATEWAY=VALUE",
        ),
        (
            ["tenant", "set-secret", "--tenant", "nope", "--kind", "stripe", "--secret", "-"],
            "not a tenant id",
        ),
        (
            ["tenant", "set-secret", "--tenant", "nope", "--kind", "stripe", "--secret-env", "UNSET_VAR_X"],
            "environment variable UNSET_VAR_X is not set",
        ),
        (
            [
                "tenant",
                "set-secret",
                "--tenant",
                "nope",
                "--kind",
                "stripe",
                "--secret-file",
                "/nonexistent/s",
            ],
            "cannot read /nonexistent/s",
        ),
        (["tenant", "set-secret", "--tenant", "nope", "--kind", "stripe"], "one of the arguments --secret"),
        (["tenant", "create", "--name", "x"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_nonzero_exit(pg_url: str, args: list[str], message: str) -> None:
    out = run_cli(*args, env_url=pg_url, stdin="secret-on-stdin\n")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    error_lines = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1 and message in error_lines[0], out.stderr


def test_db_upgrade_twice_is_a_noop_via_cli(pg_url: str) -> None:
    out = run_cli("db", "upgrade", env_url=pg_url)
    assert out.returncode == 0
    assert "nothing to apply" in out.stdout
    status = run_cli("db", "status", env_url=pg_url)
    assert "0 pending" in status.stdout


def test_unmigrated_database_says_to_run_db_upgrade(pg_server_url: str) -> None:
    from trackai import db

    name = f"trackai_test_cli_empty_{os.getpid()}"
    db.ensure_database(pg_server_url, name)
    try:
        out = run_cli("tenant", "list", env_url=db.with_database(pg_server_url, name))
    finally:
        db.drop_database(pg_server_url, name)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("trackai: error:") and "run `trackai db upgrade`" in last
    assert "Traceback" not in out.stderr
