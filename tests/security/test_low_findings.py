"""Issue 22, low findings: each test replays the attack of the report and asserts it now fails.

The snippet's findings (cookie-attribute injection, nosniff) are in test_snippet.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db, secrets, tenants
from trackai.settings import REPO_ROOT, Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

HUGE = "9" * 5000


@pytest.fixture(scope="module")
def client(pg_url: str):
    app = create_app(Settings(), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("203.0.113.9", 50000)) as c:
        yield c


def _hotmart_body(order_id: str, splice: str) -> bytes:
    """A real Hotmart delivery with ``splice`` put as raw JSON text in place of the price value."""
    payload = build_payload("hotmart", order_id=order_id)
    payload["data"]["purchase"]["price"]["value"] = "__SPLICE__"
    return json.dumps(payload).replace('"__SPLICE__"', splice).encode()


@pytest.mark.parametrize(
    ("splice", "why"),
    [
        (HUGE, "5,000-digit integer (Python refuses to convert it: was a 500)"),
        ("1e5000", "float with a huge exponent (was a 5,001-digit int in the stored payload: a 500)"),
        ("-" + HUGE, "negative 5,000-digit integer"),
        ("NaN", "NaN is not JSON (would reach jsonb as NaN)"),
        ("Infinity", "Infinity is not JSON"),
    ],
)
def test_authenticated_hotmart_body_with_an_absurd_number_is_quarantined_not_500(
    client, conn, make_tenant, splice: str, why: str
) -> None:
    tenant_id, gateway_secrets = make_tenant()
    order_id = f"HP-num-{len(splice)}-{splice[:3]}"
    headers, query, body = sign_request(
        "hotmart", gateway_secrets["hotmart"], _hotmart_body(order_id, splice)
    )
    response = client.post(
        f"/api/v1/webhooks/hotmart/{tenant_id}", content=body, headers=headers, params=query
    )
    assert response.status_code == 202, (why, response.status_code, response.text)
    assert response.json() == {"status": "quarantined"}
    error, ciphertext = conn.execute(
        "SELECT error, payload_ciphertext FROM landing.webhook_quarantine WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    assert "number" in error  # the reason says what was wrong, for the operator reviewing quarantine
    assert secrets.decrypt(ciphertext) == body  # kept verbatim, re-processable after review
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.conversions WHERE tenant_id = %s", (tenant_id,)
        ).fetchone()[0]
        == 0
    )


def test_ordinary_numbers_still_map(client, conn, make_tenant) -> None:
    """The bound is far above anything a gateway sends: a normal price and epoch ms land as before."""
    tenant_id, gateway_secrets = make_tenant()
    headers, query, body = sign_request(
        "hotmart", gateway_secrets["hotmart"], _hotmart_body("HP-normal", "1234.56")
    )
    response = client.post(
        f"/api/v1/webhooks/hotmart/{tenant_id}", content=body, headers=headers, params=query
    )
    assert response.status_code == 200, response.text
    amount = conn.execute(
        "SELECT amount FROM landing.conversions WHERE tenant_id = %s AND order_id = 'HP-normal'", (tenant_id,)
    ).fetchone()[0]
    assert amount == Decimal("1234.56")


# --- CLI: secrets never on the command line ---------------------------------------------------------


def _cli(*args: str, pg_url: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trackai_cli.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "TRACKAI_DATABASE_URL": pg_url},
        cwd=REPO_ROOT,
        timeout=60,
    )


def test_cli_refuses_a_secret_given_on_the_command_line(pg_url: str, conn, make_tenant) -> None:
    """``--secret VALUE`` put the secret in ps and shell history: now refused before anything is stored."""
    tenant_id, gateway_secrets = make_tenant()
    leaked = "hottok-visible-in-ps-1234"
    attempts = [
        ("tenant", "set-secret", "--tenant", tenant_id, "--kind", "hotmart", "--secret", leaked),
        ("tenant", "create", "--name", "X", "--pixel-id", "123456", "--meta-token", leaked),
        (
            "tenant", "create", "--name", "X", "--pixel-id", "123456", "--meta-token", "-",
            "--gateway-secret", f"hotmart={leaked}",
        ),
    ]  # fmt: skip
    before = conn.execute("SELECT count(*) FROM core.tenants").fetchone()[0]
    for args in attempts:
        out = _cli(*args, pg_url=pg_url, stdin="EAAB-token\n")
        assert out.returncode != 0, args
        assert "not the secret itself" in out.stderr and "Traceback" not in out.stderr
        assert leaked not in out.stderr + out.stdout  # the refusal never echoes the secret
    assert conn.execute("SELECT count(*) FROM core.tenants").fetchone()[0] == before
    assert tenants.get_secret(conn, tenant_id, "hotmart") == gateway_secrets["hotmart"]

    rotated = _cli(
        "tenant", "set-secret", "--tenant", tenant_id, "--kind", "hotmart", "--secret", "-",
        pg_url=pg_url, stdin=f"{leaked}\n",
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert tenants.get_secret(conn, tenant_id, "hotmart") == leaked


# --- the development key file ------------------------------------------------------------------------


def test_dev_key_file_is_owner_only_from_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was written with the umask's mode (world-readable) and chmod-ed afterwards: a window in which
    another local user could read it. With chmod neutralised, the file must still be 0600."""
    chmod_calls: list[tuple] = []
    monkeypatch.setattr(os, "chmod", lambda *a, **k: chmod_calls.append(a))
    old_umask = os.umask(0)  # the most permissive umask: only the mode given at creation protects it
    try:
        settings = Settings(env="development", secret_key=None, data_dir=tmp_path / "data")
        token = secrets.encrypt("hello", settings)
    finally:
        os.umask(old_umask)
    key_file = tmp_path / "data" / "dev_secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert chmod_calls == []
    Fernet(key_file.read_bytes().strip())  # a complete, valid key
    assert [p.name for p in key_file.parent.iterdir()] == ["dev_secret.key"]  # no temporary left behind
    assert secrets.decrypt(token, settings) == b"hello"  # the key is reused, not regenerated
    assert secrets.decrypt(token, Settings(env="development", secret_key=None, data_dir=tmp_path / "data"))


def test_dev_key_is_never_replaced_once_it_exists(tmp_path: Path) -> None:
    key_file = tmp_path / "dev_secret.key"
    key = Fernet.generate_key()
    key_file.write_bytes(key)
    settings = Settings(env="development", secret_key=None, data_dir=tmp_path)
    token = secrets.encrypt("x", settings)
    assert key_file.read_bytes() == key
    assert Fernet(key).decrypt(token.encode()) == b"x"
