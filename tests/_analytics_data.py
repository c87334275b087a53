"""Row factories for the analytics/quality tests and the dashboard bench (plain SQL, real Postgres)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, date, datetime, timedelta

import psycopg


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def click(conn: psycopg.Connection, tenant_id: str, *, occurred_at: datetime | None = None, **cols) -> int:
    values = {
        "tenant_id": tenant_id,
        "session_id": cols.pop("session_id", secrets.token_hex(6)),
        "occurred_at": occurred_at or now(),
        **cols,
    }
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return conn.execute(
        f"INSERT INTO landing.clicks ({names}) VALUES ({marks}) RETURNING click_id", list(values.values())
    ).fetchone()[0]


def webhook_event(
    conn: psycopg.Connection, tenant_id: str, gateway: str = "hotmart", received_at: datetime | None = None
) -> int:
    return conn.execute(
        """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, event_type, payload_redacted,
                                               payload_sha256, received_at)
           VALUES (%s, %s, %s, 'purchase', '{}'::jsonb, %s, %s) RETURNING webhook_event_id""",
        (tenant_id, gateway, secrets.token_hex(8), sha(secrets.token_hex(4)), received_at or now()),
    ).fetchone()[0]


def rejection(conn: psycopg.Connection, tenant_id: str | None, gateway: str = "hotmart", n: int = 1) -> None:
    for _ in range(n):
        conn.execute(
            """INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status)
               VALUES (%s, %s, %s, 'bad_signature', 401)""",
            (str(tenant_id), tenant_id, gateway),
        )


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
    wid = webhook_event(conn, tenant_id, gateway)
    values = {
        "webhook_event_id": wid,
        "tenant_id": tenant_id,
        "gateway": gateway,
        "order_id": order_id or secrets.token_hex(6),
        "status": cols.pop("status", "approved"),
        "event_time": event_time or now(),
        "amount": amount,
        "currency": currency,
        **cols,
    }
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return conn.execute(
        f"INSERT INTO landing.conversions ({names}) VALUES ({marks}) RETURNING conversion_id",
        list(values.values()),
    ).fetchone()[0]


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
