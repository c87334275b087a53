"""Tenants (sellers): creation, listing and secret rotation. Secrets go through trackai.secrets."""

from __future__ import annotations

import re
import secrets as secrets_mod
import uuid
from dataclasses import dataclass

import psycopg

from trackai import secrets
from trackai.settings import Settings, get_settings
from trackai.verification.credentials import KINDS as SALES_API_SECRET_KINDS
from trackai.verification.credentials import CredentialsError, parse_credentials

GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")
SECRET_KINDS = ("meta_token", *GATEWAYS, *SALES_API_SECRET_KINDS)
PIXEL_ID = re.compile(r"^[0-9]{5,20}$")


class TenantError(ValueError):
    pass


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    pixel_id: str
    test_event_code: str | None
    active: bool
    configured_secrets: tuple[str, ...]


def generated_gateway_secrets() -> dict[str, str]:
    """Fresh secrets for every gateway, shaped like the real ones (demo, tests, benchmarks)."""
    suffix = secrets_mod.token_hex(4)
    return {
        "perfectpay": secrets_mod.token_hex(16),
        "hotmart": f"hottok-{suffix}",
        "kiwify": f"kiwify-{suffix}",
        "stripe": f"whsec_{suffix}",
    }


def create_tenant_with_every_gateway(
    conn: psycopg.Connection, name: str, *, pixel_id: str = "1234567890"
) -> tuple[str, dict[str, str]]:
    """A tenant with generated secrets for all four gateways and a placeholder Meta token (tests,
    benchmarks). Returns (tenant_id, gateway secrets)."""
    gateway_secrets = generated_gateway_secrets()
    suffix = secrets_mod.token_hex(4)
    tenant_id = create_tenant(
        conn,
        name=f"{name} {suffix}",
        pixel_id=pixel_id,
        meta_token=f"meta-token-{suffix}",
        gateway_secrets=gateway_secrets,
    )
    return tenant_id, gateway_secrets


def webhook_url(tenant_id: str, gateway: str, settings: Settings | None = None) -> str:
    base = (settings or get_settings()).public_base_url.rstrip("/")
    return f"{base}/api/v1/webhooks/{gateway}/{tenant_id}"


def parse_gateway_secret(assignment: str, *, option: str = "--gateway-secret") -> tuple[str, str]:
    """``GATEWAY=VALUE`` -> (gateway, VALUE); the error never echoes VALUE (it may be a secret)."""
    gateway, sep, secret = assignment.partition("=")
    gateway = gateway.strip().lower()
    if not sep or not secret:
        raise TenantError(f"{option} expects GATEWAY=VALUE (for example hotmart=-)")
    if gateway not in GATEWAYS:
        raise TenantError(f"unknown gateway {gateway!r}; expected one of {', '.join(GATEWAYS)}")
    return gateway, secret


def create_tenant(
    conn: psycopg.Connection,
    *,
    name: str,
    pixel_id: str,
    meta_token: str,
    gateway_secrets: dict[str, str] | None = None,
    test_event_code: str | None = None,
    tenant_id: str | None = None,
) -> str:
    if not name.strip():
        raise TenantError("--name must not be empty")
    if not PIXEL_ID.match(pixel_id):
        raise TenantError(f"--pixel-id must be the numeric Meta pixel/dataset id, got {pixel_id!r}")
    if not meta_token.strip():
        raise TenantError("--meta-token must not be empty")
    new_id = str(uuid.UUID(tenant_id)) if tenant_id else str(uuid.uuid4())
    with conn.transaction():
        conn.execute(
            "INSERT INTO core.tenants (tenant_id, name, pixel_id, test_event_code) VALUES (%s, %s, %s, %s)",
            (new_id, name.strip(), pixel_id, test_event_code),
        )
        _put_secret(conn, new_id, "meta_token", meta_token)
        for gateway, secret in (gateway_secrets or {}).items():
            _put_secret(conn, new_id, gateway, secret)
    return new_id


def set_secret(conn: psycopg.Connection, tenant_id: str, kind: str, secret: str) -> None:
    if kind not in SECRET_KINDS:
        raise TenantError(f"unknown secret kind {kind!r}; expected one of {', '.join(SECRET_KINDS)}")
    if not secret:
        raise TenantError("the secret must not be empty")
    if kind in SALES_API_SECRET_KINDS:  # JSON credentials of a gateway's sales API
        try:
            parse_credentials(kind, secret)
        except CredentialsError as exc:
            raise TenantError(str(exc)) from None
    with conn.transaction():
        if not conn.execute(
            "SELECT 1 FROM core.tenants WHERE tenant_id = %s", (_uuid(tenant_id),)
        ).fetchone():
            raise TenantError(f"no tenant {tenant_id}")
        _put_secret(conn, tenant_id, kind, secret)


def _put_secret(conn: psycopg.Connection, tenant_id: str, kind: str, secret: str) -> None:
    stored = secrets.store(secret)
    conn.execute(
        """
        INSERT INTO core.tenant_secrets (tenant_id, kind, secret_ciphertext, secret_ref)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (tenant_id, kind) DO UPDATE
           SET secret_ciphertext = EXCLUDED.secret_ciphertext, secret_ref = EXCLUDED.secret_ref,
               updated_at = now()
        """,
        (tenant_id, kind, stored.ciphertext, stored.ref),
    )


def get_secret(conn: psycopg.Connection, tenant_id: str, kind: str) -> str | None:
    row = conn.execute(
        "SELECT secret_ciphertext, secret_ref FROM core.tenant_secrets WHERE tenant_id = %s AND kind = %s",
        (_uuid(tenant_id), kind),
    ).fetchone()
    return secrets.reveal(row[0], row[1]) if row else None


def list_tenants(conn: psycopg.Connection) -> list[Tenant]:
    rows = conn.execute(
        """
        SELECT t.tenant_id::text, t.name, t.pixel_id, t.test_event_code, t.active,
               coalesce(array_agg(s.kind ORDER BY s.kind) FILTER (WHERE s.kind IS NOT NULL), '{}')
          FROM core.tenants t LEFT JOIN core.tenant_secrets s USING (tenant_id)
         GROUP BY t.tenant_id ORDER BY t.created_at, t.name
        """
    ).fetchall()
    return [Tenant(r[0], r[1], r[2], r[3], r[4], tuple(r[5])) for r in rows]


def describe_tenant(tenant: Tenant, settings: Settings | None = None) -> dict:
    return {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "pixel_id": tenant.pixel_id,
        "active": tenant.active,
        "meta_token_configured": "meta_token" in tenant.configured_secrets,
        "webhooks": {
            g: {
                "url": webhook_url(tenant.tenant_id, g, settings),
                "secret_configured": g in tenant.configured_secrets,
            }
            for g in GATEWAYS
        },
        "snippet_url": f"{(settings or get_settings()).public_base_url.rstrip('/')}/api/v1/snippet/{tenant.tenant_id}.js",
    }


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise TenantError(f"{value!r} is not a tenant id (UUID)") from exc
