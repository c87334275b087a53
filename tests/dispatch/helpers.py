"""Fixtures-as-functions for dispatch tests: insert purchases, matches and registry rows directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import psycopg

from trackai.core import pii
from trackai.core.event_id import event_id as make_event_id

_seq = itertools.count(1)
UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126 Mobile Safari/537.36"


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


def queue_status(conn: psycopg.Connection, event_id: str) -> str:
    return conn.execute("SELECT status FROM ops.dispatch_queue WHERE event_id = %s", (event_id,)).fetchone()[
        0
    ]
