"""Postgres side of dispatch: enqueue from the registry, expire, claim, record outcomes, DLQ."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from trackai.billing import ledger as billing_ledger
from trackai.core import customer
from trackai.core.capi.payload import build_purchase_event
from trackai.settings import get_settings
from trackai.verification.engine import verify_purchases
from trackai.verification.store import DISPATCHABLE_SQL

SEVEN_DAYS = timedelta(days=7)

_PURCHASE_SQL = """
SELECT r.event_id, p.tenant_id::text AS tenant_id, p.gateway, p.order_id, p.approved_at, p.amount,
       p.currency, p.product_id, p.session_id, p.fbc, p.fbp, host(p.client_ip) AS client_ip,
       p.user_agent, p.email_hash, p.phone_hash, {customer_columns}, t.pixel_id,
       m.click_id AS m_click_id, m.fbc AS m_fbc, m.fbp AS m_fbp, host(m.client_ip) AS m_client_ip,
       m.user_agent AS m_user_agent, m.landing_url AS m_landing_url, m.external_id AS m_external_id,
       m.stage AS m_stage, m.confidence AS m_confidence
  FROM core.dedupe_registry r
  JOIN core.purchases p ON p.event_id = r.event_id
  JOIN core.tenants t ON t.tenant_id = p.tenant_id
  LEFT JOIN core.matches m ON m.tenant_id = p.tenant_id AND m.gateway = p.gateway AND m.order_id = p.order_id
""".format(customer_columns=", ".join(f"p.{c}" for c in customer.COLUMNS.values()))


def _send_min_confidence() -> float:
    """A match lends its click's data to the event only at this confidence (issue 14)."""
    return get_settings().match.send_min_confidence


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def split_row(row: dict) -> tuple[dict, dict | None]:
    purchase = {k: v for k, v in row.items() if not k.startswith("m_")}
    if row.get("m_click_id") is None:
        return purchase, None
    return purchase, {k[2:]: v for k, v in row.items() if k.startswith("m_")}


def enqueue(
    conn: psycopg.Connection, *, margin: timedelta, now: datetime, tenant_id: str | None = None
) -> int:
    """Queue every registry event whose purchase is approved and not queued yet; returns how many.

    A purchase counts once it has ``approved_at`` (later refunds do not undo the purchase event).
    The payload is built now from the purchase and its match; ``deadline_at`` = event time + 7 days
    minus ``margin`` so nothing is ever sent after Meta's cutoff. Only purchases their verification lets
    through are queued (issue 22, finding 3); what is not verified yet is verified first.
    """
    verify_purchases(conn, now=now, tenant_id=tenant_id)
    where = f" WHERE p.approved_at IS NOT NULL AND r.event_name = 'Purchase' AND {DISPATCHABLE_SQL}"
    where += " AND NOT EXISTS (SELECT 1 FROM ops.dispatch_queue q WHERE q.event_id = r.event_id)"
    params: list = []
    if tenant_id:
        where += " AND p.tenant_id = %s"
        params.append(tenant_id)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(_PURCHASE_SQL + where, params).fetchall()
    if not rows:
        return 0
    values, min_confidence = [], _send_min_confidence()
    for row in rows:
        purchase, match = split_row(row)
        event = build_purchase_event(purchase, match, min_match_confidence=min_confidence)
        event_time = row["approved_at"]
        values.append(
            (
                row["event_id"],
                row["tenant_id"],
                row["gateway"],
                row["pixel_id"],
                event_time,
                Jsonb(event),
                event_time + SEVEN_DAYS - margin,
                now,
            )
        )
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO ops.dispatch_queue
                      (event_id, tenant_id, gateway, pixel_id, event_time, payload, deadline_at,
                       next_attempt_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
            values,
        )
    return len(values)


def rebuild_payload(conn: psycopg.Connection, event_id: str) -> dict | None:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(_PURCHASE_SQL + " WHERE r.event_id = %s", (event_id,)).fetchone()
    if not row or row["approved_at"] is None:
        return None
    purchase, match = split_row(row)
    return build_purchase_event(purchase, match, min_match_confidence=_send_min_confidence())


def blocked_tenants(conn: psycopg.Connection) -> set[str]:
    """Tenants stopped by a token/permission error whose token was not replaced since."""
    rows = conn.execute(
        """
        SELECT s.tenant_id::text FROM ops.meta_token_status s
          LEFT JOIN core.tenant_secrets k ON k.tenant_id = s.tenant_id AND k.kind = 'meta_token'
         WHERE s.status = 'invalid' AND (k.updated_at IS NULL OR k.updated_at <= s.checked_at)
        UNION
        SELECT tenant_id::text FROM core.tenants WHERE NOT active
        """
    ).fetchall()
    return {r[0] for r in rows}


def unblock(conn: psycopg.Connection, blocked: set[str]) -> int:
    """Blocked events of tenants no longer blocked (token rotated) go back to pending."""
    cur = conn.execute(
        """UPDATE ops.dispatch_queue SET status = 'pending', updated_at = now()
            WHERE status = 'blocked' AND NOT (tenant_id::text = ANY(%s))""",
        (list(blocked),),
    )
    return cur.rowcount


def expire(conn: psycopg.Connection, now: datetime) -> int:
    """Events at or past their deadline move to the DLQ unsent (blocked ones with reason 'token')."""
    with conn.transaction():
        rows = conn.execute(
            """
            WITH due AS (
                SELECT event_id, status AS old_status FROM ops.dispatch_queue
                 WHERE status IN ('pending', 'blocked') AND deadline_at <= %(now)s FOR UPDATE)
            UPDATE ops.dispatch_queue q SET status = 'dlq', updated_at = %(now)s,
                   last_error = 'expired: past the 7-day limit minus safety margin'
              FROM due WHERE q.event_id = due.event_id
         RETURNING q.event_id, q.tenant_id, q.gateway, q.pixel_id, q.payload, q.attempts, due.old_status
            """,
            {"now": now},
        ).fetchall()
        if not rows:
            return 0
        attempts = [
            AttemptRow(r[1], r[0], r[2], r[3], None, r[5] + 1, "expired", message="deadline reached")
            for r in rows
        ]
        write_attempts(conn, attempts, now)
        dlq_upsert(
            conn,
            [
                DlqRow(
                    r[0],
                    str(r[1]),
                    r[2],
                    "token" if r[6] == "blocked" else "expired",
                    None,
                    None,
                    "Event Expired",
                    "not delivered before Meta's 7-day limit",
                    r[4],
                )
                for r in rows
            ],
        )
    return len(rows)


@dataclass
class QueuedEvent:
    event_id: str
    tenant_id: str
    gateway: str
    pixel_id: str
    payload: dict
    attempts: int
    deadline_at: float


def claim_due(
    conn: psycopg.Connection, now: datetime, *, limit: int, skip_tenants: set[str], tenant_id: str | None
) -> list[QueuedEvent]:
    sql = """SELECT event_id, tenant_id::text, gateway, pixel_id, payload, attempts, deadline_at
               FROM ops.dispatch_queue
              WHERE status = 'pending' AND next_attempt_at <= %s AND NOT (tenant_id::text = ANY(%s))"""
    params: list = [now, list(skip_tenants)]
    if tenant_id:
        sql += " AND tenant_id = %s"
        params.append(tenant_id)
    sql += " ORDER BY event_time, event_id LIMIT %s"
    params.append(limit)
    return [
        QueuedEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6].timestamp())
        for r in conn.execute(sql, params).fetchall()
    ]


@dataclass
class AttemptRow:
    tenant_id: str
    event_id: str
    gateway: str
    pixel_id: str
    batch_id: str | None
    attempt_no: int
    status: str
    http_status: int | None = None
    error_code: int | None = None
    error_subcode: int | None = None
    message: str | None = None
    latency_ms: int | None = None
    fbtrace_id: str | None = None
    at: float | None = None
    is_test: bool = False  # sent with a test_event_code (C1): never billable


def write_attempts(conn: psycopg.Connection, rows: Sequence[AttemptRow], now: datetime) -> None:
    if not rows:
        return
    with (
        conn.cursor() as cur,
        cur.copy(
            """COPY ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, batch_id, attempt_no,
                   status, http_status, error_code, error_subcode, error_message, latency_ms,
                   fbtrace_id, created_at, is_test) FROM STDIN"""
        ) as copy,
    ):
        for r in rows:
            copy.write_row(
                (
                    r.tenant_id,
                    r.event_id,
                    r.gateway,
                    r.pixel_id,
                    r.batch_id,
                    r.attempt_no,
                    r.status,
                    r.http_status,
                    r.error_code,
                    r.error_subcode,
                    (r.message or None) and r.message[:1000],
                    r.latency_ms,
                    r.fbtrace_id,
                    utc(r.at) if r.at is not None else now,
                    r.is_test,
                )
            )


@dataclass
class DlqRow:
    event_id: str
    tenant_id: str
    gateway: str
    reason: str
    error_code: int | None
    error_subcode: int | None
    title: str | None
    message: str | None
    payload: dict


def dlq_upsert(conn: psycopg.Connection, rows: Iterable[DlqRow]) -> None:
    values = [
        (
            r.event_id,
            r.tenant_id,
            r.gateway,
            r.reason,
            r.error_code,
            r.error_subcode,
            r.title,
            r.message,
            Jsonb(r.payload),
        )
        for r in rows
    ]
    if not values:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO ops.dlq (event_id, tenant_id, gateway, reason, error_code, error_subcode,
                                 error_title, error_message, payload)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (event_id) DO UPDATE
               SET reason = EXCLUDED.reason, error_code = EXCLUDED.error_code,
                   error_subcode = EXCLUDED.error_subcode, error_title = EXCLUDED.error_title,
                   error_message = EXCLUDED.error_message, payload = EXCLUDED.payload,
                   created_at = now(), replayed_at = NULL
            """,
            values,
        )


def mark_sent(conn: psycopg.Connection, counts: dict[str, int], now: datetime) -> None:
    if counts:
        conn.execute(
            """UPDATE ops.dispatch_queue q SET status = 'sent', sent_at = %s, updated_at = %s,
                      attempts = q.attempts + v.n, last_error = NULL
                 FROM unnest(%s::text[], %s::int[]) AS v(event_id, n)
                WHERE q.event_id = v.event_id""",
            (now, now, list(counts), list(counts.values())),
        )


def mark_dlq(conn: psycopg.Connection, counts: dict[str, int], error: str, now: datetime) -> None:
    if counts:
        conn.execute(
            """UPDATE ops.dispatch_queue q SET status = 'dlq', updated_at = %s,
                      attempts = q.attempts + v.n, last_error = %s
                 FROM unnest(%s::text[], %s::int[]) AS v(event_id, n)
                WHERE q.event_id = v.event_id""",
            (now, error[:1000], list(counts), list(counts.values())),
        )


def mark_retry(
    conn: psycopg.Connection, counts: dict[str, int], error: str, next_at: datetime, now: datetime
) -> None:
    """Stay pending; next run tries at ``next_at`` (never later than the deadline, which then expires)."""
    if counts:
        conn.execute(
            """UPDATE ops.dispatch_queue q SET updated_at = %s, attempts = q.attempts + v.n,
                      last_error = %s, next_attempt_at = least(%s, q.deadline_at)
                 FROM unnest(%s::text[], %s::int[]) AS v(event_id, n)
                WHERE q.event_id = v.event_id AND q.status = 'pending'""",
            (now, error[:1000], next_at, list(counts), list(counts.values())),
        )


def block_tenant(
    conn: psycopg.Connection, tenant_id: str, code: int | None, message: str, now: datetime
) -> None:
    """Stop a tenant's sending (code 190 etc.) and raise the token alarm via ops.meta_token_status."""
    conn.execute(
        """UPDATE ops.dispatch_queue SET status = 'blocked', updated_at = %s, last_error = %s
            WHERE tenant_id = %s AND status = 'pending'""",
        (now, message[:1000], tenant_id),
    )
    conn.execute(
        """INSERT INTO ops.meta_token_status (tenant_id, status, error_code, message, checked_at)
           VALUES (%s, 'invalid', %s, %s, %s)
           ON CONFLICT (tenant_id) DO UPDATE SET status = 'invalid', error_code = EXCLUDED.error_code,
                  message = EXCLUDED.message, checked_at = EXCLUDED.checked_at""",
        (tenant_id, code, message[:1000], now),
    )


def token_ok(conn: psycopg.Connection, tenant_id: str, now: datetime) -> None:
    """A 2xx proves the token works: clear a previous 'invalid' (keep 'expiring' from debug_token)."""
    conn.execute(
        """UPDATE ops.meta_token_status SET status = 'ok', error_code = NULL, message = NULL,
                  checked_at = %s WHERE tenant_id = %s AND status = 'invalid'""",
        (now, tenant_id),
    )


# debug_token's verdict: a valid token that expires within this window is 'expiring'
TOKEN_EXPIRING_WITHIN_S = 24 * 3600


def record_debug_token(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    valid: bool,
    expires_at: int,
    message: str,
    error_code: int | None = None,
) -> None:
    """What Meta's debug_token said of a tenant's token (the token alarm's hourly check, the setup
    assistant's validate_meta_token): 'invalid', 'expiring' (valid, expires within 24 h) or 'ok'.
    'ok' also lifts a block left by a code 190 (``blocked_tenants``): the token works again.
    ``expires_at``: epoch seconds, 0 for a token that never expires."""
    conn.execute(
        """INSERT INTO ops.meta_token_status (tenant_id, status, error_code, message, expires_at, checked_at)
           VALUES (%(t)s, CASE WHEN NOT %(valid)s THEN 'invalid'
                               WHEN %(exp)s > 0 AND to_timestamp(%(exp)s) < now() + make_interval(secs => %(w)s)
                               THEN 'expiring'
                               ELSE 'ok' END,
                   %(code)s, %(msg)s, CASE WHEN %(exp)s > 0 THEN to_timestamp(%(exp)s) END, now())
           ON CONFLICT (tenant_id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
               message = EXCLUDED.message, expires_at = EXCLUDED.expires_at, checked_at = now()""",
        {
            "t": tenant_id,
            "valid": valid,
            "exp": int(expires_at or 0),
            "w": TOKEN_EXPIRING_WITHIN_S,
            "code": error_code,
            "msg": message[:1000],
        },
    )


def payload_json(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"))


@dataclass
class Changes:
    """Everything one recorded batch outcome (or one set of invalid events) changes; ``apply`` writes it in
    one transaction. Built by ``trackai.dispatch.recording`` (pure)."""

    now: datetime
    attempts: list[AttemptRow] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # event_id -> tries in this run
    dlq: list[tuple[DlqRow, int, str]] = field(default_factory=list)  # row, tries, queue last_error
    retry: dict[str, int] = field(default_factory=dict)
    retry_error: str = ""
    retry_at: datetime | None = None
    blocked: dict[str, int] = field(default_factory=dict)
    block_tenant: tuple[str, int | None, str] | None = None  # tenant_id, Meta code, message
    token_ok_tenant: str | None = None
    billing_notices: list = field(default_factory=list)  # quota thresholds reached (set by ``apply``)


def apply(conn: psycopg.Connection, changes: Changes) -> None:
    now = changes.now
    with conn.transaction():
        write_attempts(conn, changes.attempts, now)
        if changes.sent:
            mark_sent(conn, changes.sent, now)
            # billing (issue 18, C2): ledger + counter in this same transaction; notices posted after commit
            accepted = billing_ledger.accepted_of(changes.attempts, changes.sent, now)
            changes.billing_notices = billing_ledger.record_accepted(conn, accepted, now=now)
        if changes.token_ok_tenant:
            token_ok(conn, changes.token_ok_tenant, now)
        if changes.dlq:
            dlq_upsert(conn, [row for row, _, _ in changes.dlq])
            for row, tries, error in changes.dlq:
                mark_dlq(conn, {row.event_id: tries}, error, now)
        if changes.retry:
            mark_retry(conn, changes.retry, changes.retry_error, changes.retry_at or now, now)
        if changes.blocked:
            message = changes.block_tenant[2] if changes.block_tenant else changes.retry_error
            mark_retry(conn, changes.blocked, message, now, now)
        if changes.block_tenant is not None:
            tenant_id, code, message = changes.block_tenant
            block_tenant(conn, tenant_id, code, message, now)


def note_dropped(conn: psycopg.Connection, cleaned: dict[str, tuple[dict, list[str]]]) -> None:
    """Store the payload that will be sent (invalid optional fields removed) and why each field went."""
    if not cleaned:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE ops.dispatch_queue SET payload = %s, dropped_fields = %s WHERE event_id = %s",
            [(Jsonb(payload), reasons, event_id) for event_id, (payload, reasons) in cleaned.items()],
        )
