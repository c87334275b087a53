"""Issue 22, finding 7 (ingest side): least privilege by default.

Before: with ``TRACKAI_ENV=production`` and only ``TRACKAI_DATABASE_URL`` (the owner role) set, the
ingest service started silently as ``trackai_migration_admin`` and could rewrite tenant secrets and
delete clicks; with ``TRACKAI_ENV`` unset a configured production database ran with development
defaults. Now ``trackai serve`` (and the app itself, whoever starts it) refuses both.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import subprocess
import sys

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from ingest_service.core.privileges import PrivilegeError
from ingest_service.main import create_app
from tests.security.ingest_attack import start_service, stop_service
from trackai import db
from trackai.net import free_port
from trackai.settings import REPO_ROOT, Settings, SettingsError, require_explicit_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bypass_role(pg_url: str):
    """A login role with BYPASSRLS and nothing else (roles are cluster-wide: dropped afterwards)."""
    name = f"trackai_test_bypass_{pysecrets.token_hex(3)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN BYPASSRLS")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE {name}")


def _production_env(pg_url: str, ingest_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKAI_")}
    env.update(
        {
            "TRACKAI_ENV": "production",
            "TRACKAI_SECRET_KEY": Fernet.generate_key().decode(),
            "TRACKAI_DATABASE_URL": pg_url,
            "TRACKAI_METRICS_PORT": "0",
        }
    )
    if ingest_url:
        env["TRACKAI_INGEST_DATABASE_URL"] = ingest_url
    return env


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trackai_cli.cli", "serve", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_owner_superuser_and_bypassrls_roles(pg_url: str, bypass_role: str) -> None:
    cases = {
        "only TRACKAI_DATABASE_URL (the superuser here)": (None, "is a superuser"),
        "the owner role": (db.with_user(pg_url, "trackai_migration_admin"), "owner of the tables"),
        "a BYPASSRLS role": (db.with_user(pg_url, bypass_role), "has BYPASSRLS"),
    }
    for case, (ingest_url, why) in cases.items():
        result = _serve(_production_env(pg_url, ingest_url))
        assert result.returncode == 1, (case, result.stdout, result.stderr)
        assert "refusing to start in production" in result.stderr and why in result.stderr, (
            case,
            result.stderr,
        )


def test_production_starts_as_the_app_role(pg_url: str, tmp_path) -> None:
    env = _production_env(pg_url, db.with_user(pg_url, "trackai_app_rw"))
    proc, base = start_service(pg_url, free_port(), tmp_path / "ingest.log", env)
    try:
        assert proc.poll() is None, (tmp_path / "ingest.log").read_text()[-2000:]
        assert httpx.get(base + "/ready").status_code == 200
    finally:
        stop_service(proc)


def test_the_app_itself_refuses_an_owner_role_in_production(pg_url: str) -> None:
    """Whoever launches the app (uvicorn directly, a test client): the check runs at startup."""
    settings = Settings(
        env="production", secret_key=Fernet.generate_key().decode(), database_url=pg_url, metrics_port=0
    )
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_migration_admin"))
    with pytest.raises(PrivilegeError, match="owner of the tables"), TestClient(app):
        pass
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200


def test_a_configured_database_needs_an_explicit_env(monkeypatch) -> None:
    # Any server but the embedded one (whose socket lives in data_dir): the check runs before connecting.
    other = "postgresql://trackai_app_rw@127.0.0.1:1/trackai"
    env = {k: v for k, v in os.environ.items() if k != "TRACKAI_ENV"}
    env["TRACKAI_DATABASE_URL"] = other
    result = _serve(env)
    assert result.returncode == 1 and "TRACKAI_ENV is not set" in result.stderr, result.stderr

    monkeypatch.delenv("TRACKAI_ENV", raising=False)
    monkeypatch.delenv("TRACKAI_DATABASE_URL", raising=False)
    with pytest.raises(SettingsError, match="TRACKAI_ENV"):
        require_explicit_env(Settings(ingest_database_url=other))
    assert require_explicit_env(Settings()).env == "development"  # the embedded database: no change
    embedded = f"postgresql://postgres:@/trackai?host={Settings().data_dir / 'pgdata'}"  # demo, dev, bench
    assert require_explicit_env(Settings(database_url=embedded)).env == "development"
    assert require_explicit_env(Settings(env="development", database_url=other)).env == "development"
