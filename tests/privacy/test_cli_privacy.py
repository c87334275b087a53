"""`trackai privacy …` as an operator runs it (a child process on the test database): settings, a test
order, a request exported (email from stdin) and deleted, the log, the alarm, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trackai.core import pii

pytestmark = pytest.mark.integration
BUYER = "cli.buyer@example.com"


def _trackai(pg_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKAI_DATABASE_URL": pg_url, "TRACKAI_LIFECYCLE_S3_BUCKET": ""}
    return subprocess.run(
        [sys.executable, "-m", "trackai_cli.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_serves_a_request_end_to_end(pg_url, conn, make_tenant, tmp_path: Path) -> None:
    tenant, _ = make_tenant(pixel_id="5550005550")
    now = datetime.now(UTC)
    h = pii.hash_email(BUYER)
    conn.execute(
        "INSERT INTO landing.identities (tenant_id, session_id, email_hash, seen_at) VALUES (%s, 'tai_cli', %s, %s)",
        (tenant, h, now),
    )
    conn.execute(
        "INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, client_ip) VALUES (%s, 'tai_cli', %s, '203.0.113.77')",
        (tenant, now),
    )
    out = _trackai(
        pg_url,
        "privacy",
        "settings",
        "--tenant",
        tenant,
        "--consent-required",
        "on",
        "--block",
        "34.192.0.0/10",
        "--test-email",
        "seller.own@example.com",
    )
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["consent_required"] is True and shown["blocked_networks"] == ["34.192.0.0/10"]
    assert "seller.own" not in out.stdout
    marked = _trackai(
        pg_url, "privacy", "test-order", "--tenant", tenant, "--gateway", "kiwify", "--order-id", "o-1"
    )
    assert json.loads(marked.stdout)["outcome"] == "marked"

    exported = _trackai(
        pg_url,
        "privacy",
        "request",
        "export",
        "--tenant",
        tenant,
        "--email",
        "-",
        "--out",
        str(tmp_path),
        "--actor",
        "cli:test",
        stdin=BUYER + "\n",
    )
    assert exported.returncode == 0, exported.stderr
    result = json.loads(exported.stdout)
    assert result["state"] == "exported" and result["counts"]["landing.clicks"] == 1
    report = Path(result["report_path"]).read_text()
    assert "203.0.113.77" in report and h in report and BUYER not in report
    refused = _trackai(pg_url, "privacy", "request", "delete", "--tenant", tenant, "--email", BUYER)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = _trackai(
        pg_url,
        "privacy",
        "request",
        "delete",
        "--tenant",
        tenant,
        "--email",
        BUYER,
        "--yes",
        "--actor",
        "cli:test",
    )
    assert erased.returncode == 0, erased.stderr
    done = json.loads(erased.stdout)
    assert done["state"] == "erased" and done["request_id"] == result["request_id"]
    print(
        "\ncli timings (s): export", json.dumps(result["timings_s"]), "delete", json.dumps(done["timings_s"])
    )
    assert (
        conn.execute("SELECT count(*) FROM landing.clicks WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0
    )
    log = json.loads(_trackai(pg_url, "privacy", "list", "--tenant", tenant).stdout)
    assert [(r["state"], r["exported_by"], r["erased_by"]) for r in log] == [
        ("erased", "cli:test", "cli:test")
    ]
    assert BUYER not in json.dumps(log) and h not in json.dumps(log)
    alarm = _trackai(pg_url, "privacy", "alarm")
    assert alarm.returncode == 0 and json.loads(alarm.stdout)["due"] == 0
    bad = _trackai(pg_url, "privacy", "request", "export", "--tenant", tenant, "--phone", "123")
    assert bad.returncode == 2 and "phone" in bad.stderr
