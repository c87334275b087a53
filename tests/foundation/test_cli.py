"""The console script: JSON out, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from trackai.settings import REPO_ROOT


def run_cli(*args: str, env_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRACKAI_DATABASE_URL": env_url}
    return subprocess.run(
        [sys.executable, "-m", "trackai.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
    )


def test_tenant_create_prints_webhook_urls(pg_url: str) -> None:
    out = run_cli(
        "tenant",
        "create",
        "--name",
        "Loja",
        "--pixel-id",
        "123456789",
        "--meta-token",
        "tok",
        "--gateway-secret",
        "kiwify=abc",
        "--gateway-secret",
        "stripe=whsec_x",
        env_url=pg_url,
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tenant", "create", "--name", "x", "--pixel-id", "abc", "--meta-token", "t"], "numeric Meta pixel"),
        (
            [
                "tenant",
                "create",
                "--name",
                "x",
                "--pixel-id",
                "12345",
                "--meta-token",
                "t",
                "--gateway-secret",
                "paypal=1",
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
                "t",
                "--gateway-secret",
                "stripe",
            ],
            "GATEWAY=SECRET",
        ),
        (
            ["tenant", "set-secret", "--tenant", "nope", "--kind", "stripe", "--secret", "s"],
            "not a tenant id",
        ),
        (["tenant", "create", "--name", "x"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_nonzero_exit(pg_url: str, args: list[str], message: str) -> None:
    out = run_cli(*args, env_url=pg_url)
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
