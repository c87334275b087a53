"""Insert landing rows exactly as the ingest service lands them (clicks, identities, webhooks + conversions).

Mirrors the ingest contract: PII only as SHA-256 hex, ``fbc`` built once at click time as
``fb.1.<ms>.<fbclid>`` and stored verbatim, the gateway's tracking fields kept in ``tracking`` jsonb with the
session id extracted into ``session_id``, one landing.webhook_events row per verified delivery. The demo and
other test suites may import these helpers.

Session ids: only ids shaped like the snippet's (``trackai.core.session_id``) join a purchase to a click, so
a readable label such as ``"sess-A"`` passed as ``session_id`` (or as a checkout carrier value: src, sck,
xcod, client_reference_id, session_id, sid) is turned into a real id by ``sid(label)``, the same id for the
same label. Attack tests pass ``verbatim=True`` to land exactly what an attacker posted.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg

from trackai.core.session_id import ALPHABET, PREFIX, RANDOM_LENGTH, is_session_id

if TYPE_CHECKING:
    from trackai.core.gateways import Conversion
    from trackai_cli.demo_traffic import TrafficPlan

# Checkout fields that carry the landing session id (what the snippet decorates, gateways.md §5).
SESSION_CARRIERS = ("src", "sck", "xcod", "client_reference_id", "session_id", "sid")


def sid(label: str) -> str:
    """A snippet-shaped session id derived from ``label`` (idempotent on ids that already have the shape)."""
    if is_session_id(label):
        return label
    digest = hashlib.sha256(f"trackai-test-session:{label}".encode()).digest()
    return PREFIX + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:RANDOM_LENGTH])


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
    fbc: str | None = None,
    verbatim: bool = False,
) -> int:
    """A landing click; when it carries email/phone an identity row is landed too (as ingest does).

    ``fbc`` overrides the one built from ``fbclid``; ``verbatim`` keeps ``session_id`` as given."""
    session_id = session_id if verbatim else sid(session_id)
    fbc = fbc or (fbc_for(fbclid, occurred_at) if fbclid else None)
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
            verbatim=True,
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
    verbatim: bool = False,
) -> int:
    session_id = session_id if verbatim else sid(session_id)
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
    session_id = sid(session_id) if session_id else None
    tracking = {k: sid(v) if k in SESSION_CARRIERS and v else v for k, v in (tracking or {}).items()}
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


def land_gateway_conversion(conn: psycopg.Connection, tenant_id: str, conversion: Conversion) -> int:
    """A verified delivery already mapped by the real gateway adapter, landed as the ingest service lands it."""
    body = json.dumps({"order_id": conversion.order_id, "status": conversion.status}, sort_keys=True)
    webhook_event_id = conn.execute(
        """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, event_type, payload_redacted,
                                               payload_sha256)
           VALUES (%s, %s, %s, %s, %s::jsonb, %s) RETURNING webhook_event_id""",
        (
            tenant_id,
            conversion.gateway,
            f"{conversion.order_id}:{conversion.status}:{secrets.token_hex(4)}",
            conversion.gateway_status,
            body,
            hashlib.sha256(body.encode()).hexdigest(),
        ),
    ).fetchone()[0]
    return conn.execute(
        """
        INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, order_id, status, gateway_status,
            event_time, amount, currency, product_id, session_id, tracking, fbclid, fbc, fbp, client_ip,
            user_agent, email_hash, phone_hash)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s::inet, %s, %s, %s)
        RETURNING conversion_id
        """,
        (
            webhook_event_id,
            tenant_id,
            conversion.gateway,
            conversion.order_id,
            conversion.status,
            conversion.gateway_status,
            conversion.event_time,
            conversion.amount,
            conversion.currency,
            conversion.product_id,
            conversion.session_id,
            json.dumps(conversion.tracking),
            conversion.fbclid,
            conversion.fbc,
            conversion.fbp,
            conversion.client_ip,
            conversion.user_agent,
            conversion.email_hash,
            conversion.phone_hash,
        ),
    ).fetchone()[0]


def land_plan(conn: psycopg.Connection, tenant_id: str, plan: TrafficPlan, *, start: datetime) -> datetime:
    """Land a demo ``TrafficPlan`` as the demo sends it: every visitor's click (and lead) from ``start``, one
    second apart, then every purchase's approved delivery built and signed-body-mapped by the real gateway
    adapter (``trackai_cli.gateway_samples`` -> ``Gateway.map``). Returns the purchases' time."""
    from trackai.core.gateways import get_gateway
    from trackai_cli.gateway_samples import build_payload

    for i, visitor in enumerate(plan.visitors):
        at = start + timedelta(seconds=i)
        common = {
            "session_id": visitor.session_id,
            "occurred_at": at,
            "fbclid": visitor.fbclid,
            "fbp": visitor.fbp,
            "client_ip": visitor.ip,
            "user_agent": visitor.user_agent,
            "landing_url": visitor.landing_url,
            "verbatim": True,
        }
        land_click(conn, tenant_id, **common)
        if visitor.lead_email:
            land_click(conn, tenant_id, **common, event_type="lead", email=visitor.lead_email)
    bought_at = start + timedelta(seconds=len(plan.visitors), minutes=10)
    for purchase in plan.purchases:
        payload = build_payload(
            purchase.gateway,
            order_id=purchase.order_id,
            status="approved",
            email=purchase.email,
            phone=purchase.phone,
            session_id=purchase.session_id,
            amount=purchase.amount,
            currency=purchase.currency,
            event_time=purchase.event_time or bought_at,
            product_id=purchase.product_id,
            fbc=purchase.fbc,
            client_ip=purchase.client_ip,
            event_uid=f"{purchase.order_id}-approved",
        )
        mapped = get_gateway(purchase.gateway).map(json.dumps(payload, separators=(",", ":")).encode())
        land_gateway_conversion(conn, tenant_id, mapped.conversion)
    return bought_at
