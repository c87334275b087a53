"""Per-tenant, per-gateway rollout flags (core.gateway_flags, sql/0800; ``trackai flags``).

A gateway is enabled for a tenant unless a flag says otherwise: the tenant's own row wins, else the
default row (tenant_id NULL, e.g. a gateway shipped disabled until tenants opt in), else enabled. The
ingest service reads the disabled set together with the tenant's secrets (``DISABLED_GATEWAYS_SQL``, one
query, same cache) and answers a disabled gateway with ``disabled_response`` after authentication, so an
unauthenticated caller learns nothing about flags and the disabled delivery lands nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

from trackai.core.gateways import ADAPTERS

GATEWAY_DISABLED = "gateway_disabled"
DISABLED_STATUS = 403
_GATEWAY_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")  # the table's CHECK

# The gateways disabled for tenant %(tenant)s: a SELECT over core.gateway_flags returning one text[].
# Usable on its own or as a scalar sub-select beside the tenant query (ingest_service's store).
DISABLED_GATEWAYS_SQL = """
SELECT coalesce(array_agg(f.gateway ORDER BY f.gateway), '{}')
  FROM core.gateway_flags f
 WHERE NOT f.enabled
   AND (f.tenant_id = %(tenant)s
        OR (f.tenant_id IS NULL AND NOT EXISTS (
              SELECT 1 FROM core.gateway_flags o WHERE o.tenant_id = %(tenant)s AND o.gateway = f.gateway)))
"""


class FlagError(ValueError):
    pass


@dataclass(frozen=True)
class GatewayFlag:
    tenant_id: str | None  # None: the default for every tenant
    gateway: str
    enabled: bool
    reason: str | None
    updated_by: str
    updated_at: datetime


def disabled_response(gateway: str) -> tuple[int, dict]:
    """Status and JSON body of a delivery to a disabled gateway (the one wording, docs/api-policy.md)."""
    return DISABLED_STATUS, {
        "detail": f"gateway {gateway} is disabled for this tenant; the delivery was not landed "
        "(retry after it is enabled)",
        "code": GATEWAY_DISABLED,
    }


def _check_gateway(gateway: str, *, known_only: bool) -> str:
    if not _GATEWAY_NAME.match(gateway or ""):
        raise FlagError(f"invalid gateway name {gateway!r}")
    if known_only and gateway not in ADAPTERS:
        raise FlagError(f"unknown gateway {gateway!r}; expected one of {', '.join(ADAPTERS)}")
    return gateway


def _tenant(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise FlagError(f"invalid tenant id {value!r}") from exc


def disabled_gateways(conn: psycopg.Connection, tenant_id: str) -> frozenset[str]:
    row = conn.execute(DISABLED_GATEWAYS_SQL, {"tenant": _tenant(tenant_id)}).fetchone()
    return frozenset(row[0] if row else ())


def gateway_enabled(conn: psycopg.Connection, tenant_id: str, gateway: str) -> bool:
    return gateway not in disabled_gateways(conn, tenant_id)


def set_flag(
    conn: psycopg.Connection,
    gateway: str,
    enabled: bool,
    *,
    tenant_id: str | None = None,
    reason: str | None = None,
    allow_unknown_gateway: bool = False,
) -> GatewayFlag:
    """Upsert one flag; ``tenant_id`` None sets the default for every tenant."""
    gateway = _check_gateway(gateway, known_only=not allow_unknown_gateway)
    tenant = _tenant(tenant_id)
    if reason is not None and len(reason) > 200:
        raise FlagError("reason is limited to 200 characters")
    if (
        tenant is not None
        and not conn.execute("SELECT 1 FROM core.tenants WHERE tenant_id = %s", (tenant,)).fetchone()
    ):
        raise FlagError(f"no tenant {tenant}")
    target = (
        "(tenant_id, gateway) WHERE tenant_id IS NOT NULL" if tenant else "(gateway) WHERE tenant_id IS NULL"
    )
    row = conn.execute(
        f"""INSERT INTO core.gateway_flags (tenant_id, gateway, enabled, reason)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT {target} DO UPDATE
               SET enabled = EXCLUDED.enabled, reason = EXCLUDED.reason,
                   updated_by = current_user, updated_at = now()
            RETURNING tenant_id::text, gateway, enabled, reason, updated_by, updated_at""",
        (tenant, gateway, enabled, reason),
    ).fetchone()
    return GatewayFlag(*row)


def clear_flag(conn: psycopg.Connection, gateway: str, *, tenant_id: str | None = None) -> bool:
    """Remove one flag (the tenant then follows the default); returns whether a row was removed."""
    tenant = _tenant(tenant_id)
    cur = conn.execute(
        "DELETE FROM core.gateway_flags WHERE gateway = %s AND tenant_id IS NOT DISTINCT FROM %s",
        (_check_gateway(gateway, known_only=False), tenant),
    )
    return cur.rowcount > 0


def list_flags(conn: psycopg.Connection, tenant_id: str | None = None) -> list[GatewayFlag]:
    """Every flag, or the ones that apply to one tenant (its own rows and the defaults)."""
    rows = conn.execute(
        """SELECT tenant_id::text, gateway, enabled, reason, updated_by, updated_at
             FROM core.gateway_flags
            WHERE %(tenant)s::uuid IS NULL OR tenant_id = %(tenant)s::uuid OR tenant_id IS NULL
            ORDER BY tenant_id NULLS FIRST, gateway""",
        {"tenant": _tenant(tenant_id)},
    ).fetchall()
    return [GatewayFlag(*r) for r in rows]
