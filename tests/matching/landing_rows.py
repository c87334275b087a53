"""Insert landing rows exactly as the ingest service lands them (clicks, identities, webhooks + conversions).

Mirrors the ingest contract: PII only as SHA-256 hex, ``fbc`` built once at click time as
``fb.1.<ms>.<fbclid>`` and stored verbatim, the gateway's tracking fields kept in ``tracking`` jsonb with the
session id extracted into ``session_id``, one landing.webhook_events row per verified delivery. The demo and
other test suites may import these helpers.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

import psycopg


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()


def fbc_for(fbclid: str, at: datetime) -> str:
    return f"fb.1.{int(at.timestamp() * 1000)}.{fbclid}"


def land_click(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    session_id: str,
    occurred_at: datetime,
    fbclid: str | None = None,
    fbp: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    landing_url: str | None = "https://shop.example/lp",
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    utm: dict | None = None,
    event_type: str = "click",
) -> int:
    """A landing click; when it carries email/phone an identity row is landed too (as ingest does)."""
    fbc = fbc_for(fbclid, occurred_at) if fbclid else None
    email_hash = sha256_hex(email) if email else None
    phone_hash = sha256_hex(phone) if phone else None
    click_id = conn.execute(
        """
        INSERT INTO landing.clicks (tenant_id, event_type, session_id, occurred_at, landing_url, fbclid, fbc,
                                    fbp, client_ip, user_agent, email_hash, phone_hash, external_id, utm)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s, %s, %s, %s::jsonb)
        RETURNING click_id
        """,
        (
            tenant_id,
            event_type,
            session_id,
            occurred_at,
            landing_url,
            fbclid,
            fbc,
            fbp or f"fb.1.{int(occurred_at.timestamp() * 1000)}.{secrets.randbelow(2**31)}",
            client_ip,
            user_agent,
            email_hash,
            phone_hash,
            external_id or session_id,
            json.dumps(utm or {}),
        ),
    ).fetchone()[0]
    if email_hash or phone_hash:
        land_identity(
            conn,
            tenant_id,
            session_id=session_id,
            click_id=click_id,
            email=email,
            phone=phone,
            seen_at=occurred_at,
        )
    return click_id


def land_identity(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    session_id: str,
    seen_at: datetime,
    email: str | None = None,
    phone: str | None = None,
    click_id: int | None = None,
) -> int:
    return conn.execute(
        """INSERT INTO landing.identities (tenant_id, session_id, click_id, email_hash, phone_hash, seen_at)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING identity_id""",
        (
            tenant_id,
            session_id,
            click_id,
            sha256_hex(email) if email else None,
            sha256_hex(phone) if phone else None,
            seen_at,
        ),
    ).fetchone()[0]


def land_conversion(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    order_id: str,
    event_time: datetime,
    status: str = "approved",
    gateway: str = "kiwify",
    session_id: str | None = None,
    tracking: dict | None = None,
    email: str | None = None,
    phone: str | None = None,
    fbclid: str | None = None,
    fbc: str | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    amount: float = 97.0,
    currency: str = "BRL",
    product_id: str | None = "prod-1",
    delivery_key: str | None = None,
) -> int:
    """A verified webhook delivery: landing.webhook_events + its normalised landing.conversions row."""
    tracking = dict(tracking or {})
    if session_id and not tracking:
        tracking = {"src": session_id}
    payload = {"order_id": order_id, "status": status, "tracking": tracking}
    body = json.dumps(payload, sort_keys=True)
    webhook_event_id = conn.execute(
        """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, event_type, payload_redacted,
                                               payload_sha256, received_at)
           VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s) RETURNING webhook_event_id""",
        (
            tenant_id,
            gateway,
            delivery_key or f"{order_id}:{status}:{secrets.token_hex(4)}",
            status,
            body,
            hashlib.sha256(body.encode()).hexdigest(),
            datetime.now(UTC),
        ),
    ).fetchone()[0]
    return conn.execute(
        """
        INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, order_id, status, gateway_status,
            event_time, amount, currency, product_id, session_id, tracking, fbclid, fbc, client_ip, user_agent,
            email_hash, phone_hash)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::inet, %s, %s, %s)
        RETURNING conversion_id
        """,
        (
            webhook_event_id,
            tenant_id,
            gateway,
            order_id,
            status,
            status,
            event_time,
            amount,
            currency,
            product_id,
            session_id,
            json.dumps(tracking),
            fbclid,
            fbc,
            client_ip,
            user_agent,
            sha256_hex(email) if email else None,
            sha256_hex(phone) if phone else None,
        ),
    ).fetchone()[0]
