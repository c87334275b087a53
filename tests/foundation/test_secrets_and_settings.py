from __future__ import annotations

import psycopg
import pytest
from cryptography.fernet import Fernet

from trackai import secrets, tenants
from trackai.settings import Settings


def test_tenant_secrets_are_never_stored_in_plaintext(conn: psycopg.Connection, make_tenant) -> None:
    tenant_id, gateway_secrets = make_tenant(meta_token="EAAB-very-secret-token")
    dump = " ".join(
        str(v) for row in conn.execute("SELECT * FROM core.tenant_secrets").fetchall() for v in row
    ) + " ".join(str(v) for row in conn.execute("SELECT * FROM core.tenants").fetchall() for v in row)
    for plaintext in [*gateway_secrets.values(), "EAAB-very-secret-token"]:
        assert plaintext not in dump
    assert tenants.get_secret(conn, tenant_id, "meta_token") == "EAAB-very-secret-token"
    assert tenants.get_secret(conn, tenant_id, "stripe") == gateway_secrets["stripe"]


def test_set_secret_rotates(conn: psycopg.Connection, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    tenants.set_secret(conn, tenant_id, "hotmart", "new-hottok")
    assert tenants.get_secret(conn, tenant_id, "hotmart") == "new-hottok"
    with pytest.raises(tenants.TenantError, match="unknown secret kind"):
        tenants.set_secret(conn, tenant_id, "paypal", "x")


def test_wrong_key_cannot_decrypt() -> None:
    token = secrets.encrypt("hello", Settings(secret_key=Fernet.generate_key().decode()))
    with pytest.raises(secrets.SecretError, match="TRACKAI_SECRET_KEY differs"):
        secrets.decrypt(token, Settings(secret_key=Fernet.generate_key().decode()))


def test_production_refuses_placeholder_and_missing_secrets() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(env="production", secret_key="change-me", database_url="postgresql://db/trackai")
    with pytest.raises(ValueError, match="TRACKAI_DATABASE_URL must be set"):
        Settings(env="production", secret_key=Fernet.generate_key().decode(), database_url=None)
    ok = Settings(
        env="production", secret_key=Fernet.generate_key().decode(), database_url="postgresql://db/t"
    )
    assert ok.env == "production"


def test_secret_key_must_be_a_fernet_key() -> None:
    with pytest.raises(ValueError, match="Fernet key"):
        Settings(secret_key="not-base64-32-bytes")


def test_aws_backend_stores_only_a_reference_and_reads_through_boto3(monkeypatch) -> None:
    calls = []

    class FakeClient:
        def get_secret_value(self, SecretId):
            calls.append(SecretId)
            return {"SecretString": "from-aws"}

    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, region_name=None: FakeClient())
    settings = Settings(secrets_backend="aws", aws_region="sa-east-1")
    stored = secrets.store("arn:aws:secretsmanager:sa-east-1:1:secret:tenant-a", settings)
    assert stored.ciphertext is None and stored.ref.startswith("arn:aws")
    assert secrets.reveal(stored.ciphertext, stored.ref, settings) == "from-aws"
    assert calls == ["arn:aws:secretsmanager:sa-east-1:1:secret:tenant-a"]


def test_env_example_is_generated_from_settings_and_current() -> None:
    """.env.example says it lists every variable: it must be exactly what Settings generates."""
    from trackai.settings import REPO_ROOT, env_example

    assert (REPO_ROOT / ".env.example").read_text() == env_example(), (
        "regenerate: trackai config env-example > .env.example"
    )


def test_every_trackai_variable_read_in_code_is_a_setting() -> None:
    """No TRACKAI_* variable is read outside Settings: every name in the code maps to a field."""
    import re

    from trackai.settings import REPO_ROOT, env_example

    known = set(re.findall(r"\b(TRACKAI_[A-Z0-9_]+)=", env_example()))
    # Internal hand-offs to child processes (dbt profiles from the database URL), not configuration.
    derived = {"TRACKAI_DBT_HOST", "TRACKAI_DBT_PORT", "TRACKAI_DBT_USER", "TRACKAI_DBT_PASSWORD"}
    derived |= {"TRACKAI_DBT_DBNAME", "TRACKAI_DBT_THREADS"}
    seen: dict[str, str] = {}
    for package in ("trackai", "trackai_cli", "ingest_service", "dagster_project"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for name in re.findall(r"\b(TRACKAI_[A-Z0-9_]*[A-Z0-9])\b", path.read_text()):
                seen.setdefault(name, str(path.relative_to(REPO_ROOT)))
    unknown = {n: p for n, p in seen.items() if n not in known | derived and n != "TRACKAI_"}
    assert not unknown, f"variables read outside Settings: {unknown}"


def test_sub_settings_keep_their_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKAI_MATCH_THRESHOLD", "0.75")
    monkeypatch.setenv("TRACKAI_CAPI_BATCH_SIZE", "250")
    monkeypatch.setenv("TRACKAI_ALARM_DLQ_WARN", "9")
    monkeypatch.setenv("SENTRY_DSN", "http://k@127.0.0.1:1/1")
    s = Settings()
    assert (s.match.threshold, s.capi.batch_size, s.alarm.dlq_warn) == (0.75, 250, 9)
    assert s.sentry_dsn == "http://k@127.0.0.1:1/1"
    monkeypatch.setenv("TRACKAI_CAPI_BATCH_SIZE", "1001")
    with pytest.raises(ValueError, match="batch_size"):
        Settings()
