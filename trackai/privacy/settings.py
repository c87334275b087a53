"""Each tenant's privacy settings (``privacy.tenant_settings``, sql/1300): read by the ingest service with
the tenant (one query, cached like its secrets) and changed by ``trackai privacy settings``."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from trackai.core import bots, pii

# The ingest service reads this with the tenant (ingest_service.core.store.Store.tenant).
TENANT_PRIVACY_SQL = """
SELECT consent_required, blocked_networks::text[] FROM privacy.tenant_settings WHERE tenant_id = %(tenant)s
"""


@dataclass(frozen=True)
class TenantPrivacy:
    consent_required: bool = False
    blocked_networks: tuple = field(default_factory=tuple)  # parsed (trackai.core.bots.parse_networks)

    @classmethod
    def from_row(cls, row: tuple | None) -> TenantPrivacy:
        if not row:
            return cls()
        return cls(bool(row[0]), bots.parse_networks(row[1] or ()))


DEFAULT = TenantPrivacy()


def get(conn: psycopg.Connection, tenant_id: str) -> dict:
    row = conn.execute(
        """SELECT consent_required, blocked_networks::text[], test_email_hashes, test_phone_hashes, updated_by,
                  updated_at FROM privacy.tenant_settings WHERE tenant_id = %s""",
        (tenant_id,),
    ).fetchone()
    if not row:
        return {"consent_required": False, "blocked_networks": [], "test_buyers": 0, "updated_by": None}
    return {
        "consent_required": row[0],
        "blocked_networks": list(row[1]),
        "test_buyers": len(row[2]) + len(row[3]),
        "updated_by": row[4],
        "updated_at": row[5],
    }


def update(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    actor: str,
    consent_required: bool | None = None,
    block: list[str] | None = None,
    unblock: list[str] | None = None,
    test_emails: list[str] | None = None,
    test_phones: list[str] | None = None,
) -> dict:
    """Change a tenant's settings; networks are validated, test buyers are stored hashed only."""
    add = [str(n) for n in bots.parse_networks(block or [])]
    remove = [str(n) for n in bots.parse_networks(unblock or [])]
    emails = [h for h in (pii.hash_email(e) for e in test_emails or []) if h]
    phones = [h for h in (pii.hash_phone(p) for p in test_phones or []) if h]
    if len(emails) != len(test_emails or []) or len(phones) != len(test_phones or []):
        raise ValueError("a test buyer's email or phone is not valid (nothing stored)")
    with conn.transaction():
        conn.execute(
            "INSERT INTO privacy.tenant_settings (tenant_id, updated_by) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, actor),
        )
        conn.execute(
            """
            UPDATE privacy.tenant_settings SET
                consent_required = coalesce(%(consent)s, consent_required),
                blocked_networks = ARRAY(SELECT DISTINCT n FROM unnest(blocked_networks || %(add)s::cidr[]) n
                                         WHERE NOT n = ANY(%(remove)s::cidr[]) ORDER BY n),
                test_email_hashes = ARRAY(SELECT DISTINCT unnest(test_email_hashes || %(emails)s::text[])),
                test_phone_hashes = ARRAY(SELECT DISTINCT unnest(test_phone_hashes || %(phones)s::text[])),
                updated_by = %(actor)s, updated_at = now()
            WHERE tenant_id = %(tenant)s
            """,
            {
                "consent": consent_required,
                "add": add,
                "remove": remove,
                "emails": emails,
                "phones": phones,
                "actor": actor,
                "tenant": tenant_id,
            },
        )
    return get(conn, tenant_id)


def mark_test_order(conn: psycopg.Connection, tenant_id: str, gateway: str, order_id: str, actor: str) -> str:
    """Mark an order as a test. Returns 'marked', or 'already_registered' when the micro-batch already gave
    it an event_id (it may have been queued or sent: Meta cannot be asked to forget it)."""
    conn.execute(
        """INSERT INTO privacy.test_orders (tenant_id, gateway, order_id, marked_by) VALUES (%s, %s, %s, %s)
           ON CONFLICT DO NOTHING""",
        (tenant_id, gateway, order_id, actor),
    )
    registered = conn.execute(
        "SELECT 1 FROM core.dedupe_registry WHERE tenant_id = %s AND gateway = %s AND order_id = %s",
        (tenant_id, gateway, order_id),
    ).fetchone()
    return "already_registered" if registered else "marked"
