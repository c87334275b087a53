"""Rows for tests, inserted the way the services write them (one module for every table family).

Landing (what the ingest service lands): ``land_click``, ``land_identity``, ``land_conversion`` (a verified
webhook delivery + its normalised conversion), ``land_gateway_conversion`` (a real adapter's mapping),
``land_plan`` (a demo ``TrafficPlan``), and the terse column-keyword forms the analytics/quality tests use:
``click``, ``webhook_event``, ``conversion``, ``rejection``.
Core (what the micro-batch leaves): ``add_purchase`` (purchase + match + registry row, ready for dispatch),
``purchase`` (purchase, optionally matched, for marts).
Ops (what dispatch records): ``dispatched_event``, ``attempt``, ``dlq``, ``queue_status``;
``normal_traffic`` is a healthy tenant's week.

Mirrors the ingest contract: PII only as SHA-256 hex, ``fbc`` built once at click time as
``fb.1.<ms>.<fbclid>`` and stored verbatim, the gateway's tracking fields kept in ``tracking`` jsonb with the
session id extracted into ``session_id``, one landing.webhook_events row per verified delivery.

Session ids: only ids shaped like the snippet's (``trackai.core.session_id``) join a purchase to a click, so
a readable label such as ``"sess-A"`` passed as ``session_id`` (or as a checkout carrier value: src, sck,
xcod, client_reference_id, session_id, sid) is turned into a real id by ``sid(label)``, the same id for the
same label. Attack tests pass ``verbatim=True`` to land exactly what an attacker posted.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg

from trackai.core import pii
from trackai.core.event_id import event_id as make_event_id
from trackai.core.session_id import ALPHABET, PREFIX, RANDOM_LENGTH, is_session_id

if TYPE_CHECKING:
    from trackai.core.gateways import Conversion
    from trackai_cli.demo_traffic import TrafficPlan

UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126 Mobile Safari/537.36"
PIXEL_ID = "1234567890"
_seq = itertools.count(1)


def sha(value: str) -> str:
    """SHA-256 hex of ``value`` as given (ids, payloads)."""
    return hashlib.sha256(value.encode()).hexdigest()


def sha256_hex(value: str) -> str:
    """SHA-256 hex of a trimmed, lower-cased value (how ingest hashes an email or a phone it was given)."""
    return hashlib.sha256(value.strip().lower().encode("utf-8")).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def insert(conn: psycopg.Connection, table: str, values: dict, returning: str) -> object:
    """INSERT one row of ``values`` (column -> value) into ``table``; returns the ``returning`` column."""
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING {returning}", list(values.values())
    ).fetchone()[0]


# --- landing ---------------------------------------------------------------------------------------

# Checkout fields that carry the landing session id (what the snippet decorates, gateways.md §5).
SESSION_CARRIERS = ("src", "sck", "xcod", "client_reference_id", "session_id", "sid")


def sid(label: str) -> str:
    """A snippet-shaped session id derived from ``label`` (idempotent on ids that already have the shape)."""
    if is_session_id(label):
        return label
    digest = hashlib.sha256(f"trackai-test-session:{label}".encode()).digest()
    return PREFIX + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:RANDOM_LENGTH])


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
    webhook_event_id = webhook_event(
        conn,
        tenant_id,
        gateway,
        event_type=status,
        payload={"order_id": order_id, "status": status, "tracking": tracking},
        delivery_key=delivery_key or f"{order_id}:{status}:{secrets.token_hex(4)}",
    )
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
    webhook_event_id = webhook_event(
        conn,
        tenant_id,
        conversion.gateway,
        event_type=conversion.gateway_status,
        payload={"order_id": conversion.order_id, "status": conversion.status},
        delivery_key=f"{conversion.order_id}:{conversion.status}:{secrets.token_hex(4)}",
    )
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


def webhook_event(
    conn: psycopg.Connection,
    tenant_id: str,
    gateway: str = "hotmart",
    received_at: datetime | None = None,
    *,
    event_type: str = "purchase",
    payload: dict | None = None,
    delivery_key: str | None = None,
) -> int:
    """One verified delivery in landing.webhook_events (its redacted payload and the payload's hash)."""
    body = json.dumps(payload or {}, sort_keys=True)
    return conn.execute(
        """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, event_type, payload_redacted,
                                               payload_sha256, received_at)
           VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s) RETURNING webhook_event_id""",
        (
            tenant_id,
            gateway,
            delivery_key or secrets.token_hex(8),
            event_type,
            body,
            sha(body if payload else secrets.token_hex(4)),
            received_at or now(),
        ),
    ).fetchone()[0]


def click(conn: psycopg.Connection, tenant_id: str, *, occurred_at: datetime | None = None, **cols) -> int:
    """A landing.clicks row with just the given columns (``land_click`` lands a realistic one)."""
    values = {
        "tenant_id": tenant_id,
        "session_id": cols.pop("session_id", secrets.token_hex(6)),
        "occurred_at": occurred_at or now(),
        **cols,
    }
    return insert(conn, "landing.clicks", values, "click_id")


def conversion(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    order_id: str | None = None,
    gateway: str = "hotmart",
    event_time: datetime | None = None,
    amount: float = 97.0,
    currency: str = "BRL",
    **cols,
) -> int:
    """A landing.conversions row (and its delivery) with just the given columns."""
    values = {
        "webhook_event_id": webhook_event(conn, tenant_id, gateway),
        "tenant_id": tenant_id,
        "gateway": gateway,
        "order_id": order_id or secrets.token_hex(6),
        "status": cols.pop("status", "approved"),
        "event_time": event_time or now(),
        "amount": amount,
        "currency": currency,
        **cols,
    }
    return insert(conn, "landing.conversions", values, "conversion_id")


def rejection(conn: psycopg.Connection, tenant_id: str | None, gateway: str = "hotmart", n: int = 1) -> None:
    for _ in range(n):
        conn.execute(
            """INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status)
               VALUES (%s, %s, %s, 'bad_signature', 401)""",
            (str(tenant_id), tenant_id, gateway),
        )


# --- core: what the micro-batch leaves -------------------------------------------------------------


def add_purchase(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    matched: bool = True,
    approved_at: datetime | None = None,
    email: str | None = "buyer@example.com",
    phone: str | None = "11 98765-4321",
    fbc: str | None = None,
    fbp: str | None = None,
    amount: float = 197.0,
    currency: str | None = "brl",
) -> str:
    """An approved purchase (an hour old) with its registry row, matched to a click unless ``matched`` is
    False: what the micro-batch leaves for dispatch. Returns the event_id."""
    n = next(_seq)
    order_id = f"ord-{n}"
    event_id = make_event_id(tenant_id, order_id)
    approved_at = approved_at or datetime.now(UTC) - timedelta(hours=1)
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at,
               partition_date, amount, currency, product_id, session_id, email_hash, phone_hash,
               first_conversion_id, last_conversion_id)
           VALUES (%s, 'hotmart', %s, %s, 'approved', %s, %s, %s, %s, 'curso-x', %s, %s, %s, %s, %s)""",
        (
            tenant_id,
            order_id,
            event_id,
            approved_at,
            approved_at.date(),
            amount,
            currency,
            f"sess-{n}" if matched else None,
            pii.hash_email(email),
            pii.hash_phone(phone),
            n,
            n,
        ),
    )
    if matched:
        conn.execute(
            """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys,
                   fbc, fbp, client_ip, user_agent, landing_url, external_id, partition_date)
               VALUES (%s, 'hotmart', %s, %s, 'deterministic', 1, '{session_id}', %s, %s, '2804:14c::1',
                       %s, 'https://shop.example/lp?fbclid=x', %s, %s)""",
            (
                tenant_id,
                order_id,
                n,
                fbc or f"fb.1.1767220000000.IwAR2abc{n}_-XyZ",
                fbp or f"fb.1.1767219000000.{1000 + n}",
                UA,
                f"sess-{n}",
                approved_at.date(),
            ),
        )
    conn.execute(
        """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
           VALUES (%s, %s, 'hotmart', %s, 'Purchase')""",
        (event_id, tenant_id, order_id),
    )
    return event_id


def purchase(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    partition_date: date | None = None,
    approved: bool = True,
    amount: float = 100.0,
    stage: str | None = None,
    click_id: int | None = None,
    gateway: str = "hotmart",
) -> str:
    """A core.purchases row (+ core.matches when ``stage``); returns the order id."""
    order_id = secrets.token_hex(6)
    pdate = partition_date or now().date()
    event_id = sha(f"{tenant_id}|{gateway}|{order_id}")
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       amount, currency, first_conversion_id, last_conversion_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'BRL', 1, 1)""",
        (
            tenant_id,
            gateway,
            order_id,
            event_id,
            "approved" if approved else "pending",
            datetime.combine(pdate, datetime.min.time(), UTC) + timedelta(hours=12) if approved else None,
            pdate,
            amount,
        ),
    )
    if stage:
        if click_id is None:
            click_id = click(conn, tenant_id)
        conn.execute(
            """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys,
                                         partition_date)
               VALUES (%s, %s, %s, %s, %s, 0.9, ARRAY['fbc'], %s)""",
            (tenant_id, gateway, order_id, click_id, stage, pdate),
        )
    return order_id


# --- ops: what dispatch records ------------------------------------------------------------------


def queue_status(conn: psycopg.Connection, event_id: str) -> str:
    return conn.execute("SELECT status FROM ops.dispatch_queue WHERE event_id = %s", (event_id,)).fetchone()[
        0
    ]


FULL_USER_DATA = {
    "em": [sha("a@b.co")],
    "ph": [sha("5511912345678")],
    "fbc": "fb.1.1.abc",
    "fbp": "fb.1.1.2",
    "external_id": [sha("x")],
    "client_ip_address": "203.0.113.9",
    "client_user_agent": "UA",
}


def dispatched_event(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    user_data: dict | None = None,
    status: str = "sent",
    attempts: list[tuple[str, int]] | None = None,
    sent_at: datetime | None = None,
    created_at: datetime | None = None,
    gateway: str = "hotmart",
) -> str:
    """dedupe_registry + dispatch_queue (+ dispatch_attempts from ``attempts`` = [(status, latency_ms)])."""
    event_id = sha(secrets.token_hex(8))
    conn.execute(
        """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
           VALUES (%s, %s, %s, %s, 'Purchase')""",
        (event_id, tenant_id, gateway, secrets.token_hex(4)),
    )
    payload = {
        "event_name": "Purchase",
        "event_id": event_id,
        "user_data": FULL_USER_DATA if user_data is None else user_data,
    }
    ts = created_at or now()
    conn.execute(
        """INSERT INTO ops.dispatch_queue (event_id, tenant_id, gateway, pixel_id, event_time, payload, status,
                                           attempts, deadline_at, sent_at, created_at)
           VALUES (%s, %s, %s, '1234567890', %s, %s, %s, %s, %s, %s, %s)""",
        (
            event_id,
            tenant_id,
            gateway,
            ts,
            json.dumps(payload),
            status,
            len(attempts or []),
            ts + timedelta(days=7),
            (sent_at or ts) if status == "sent" else None,
            ts,
        ),
    )
    for no, (astatus, latency) in enumerate(attempts or [("success", 120)], start=1):
        attempt(conn, tenant_id, event_id, astatus, latency, created_at=ts, attempt_no=no, gateway=gateway)
    return event_id


def attempt(
    conn: psycopg.Connection,
    tenant_id: str,
    event_id: str,
    status: str = "success",
    latency: int = 100,
    *,
    created_at: datetime | None = None,
    attempt_no: int = 1,
    gateway: str = "hotmart",
) -> None:
    conn.execute(
        """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status,
                                              http_status, latency_ms, created_at)
           VALUES (%s, %s, %s, '1234567890', %s, %s, %s, %s, %s)""",
        (
            tenant_id,
            event_id,
            gateway,
            attempt_no,
            status,
            200 if status == "success" else 500,
            latency,
            created_at or now(),
        ),
    )


def dlq(conn: psycopg.Connection, tenant_id: str, n: int = 1, reason: str = "meta_rejected") -> list[str]:
    ids = []
    for _ in range(n):
        event_id = sha(secrets.token_hex(8))
        conn.execute(
            """INSERT INTO ops.dlq (event_id, tenant_id, gateway, reason, payload)
               VALUES (%s, %s, 'hotmart', %s, '{}'::jsonb)""",
            (event_id, tenant_id, reason),
        )
        ids.append(event_id)
    return ids


def normal_traffic(conn: psycopg.Connection, tenant_id: str, days: int = 8) -> None:
    """A healthy tenant: recent clicks, webhooks, matched purchases every day, fast successful sends."""
    today = now().date()
    for back in range(days):
        for i in range(10):
            cid = click(conn, tenant_id, occurred_at=now() - timedelta(days=back, minutes=1 + i))
            purchase(
                conn,
                tenant_id,
                partition_date=today - timedelta(days=back),
                stage="deterministic" if i < 8 else None,
                click_id=cid,
            )
    for _ in range(20):
        webhook_event(conn, tenant_id)
        dispatched_event(conn, tenant_id, attempts=[("success", 120)])
