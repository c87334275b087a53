"""Database access for the ingest service: an async psycopg pool, hot-path rows landed by group commit
(the rows of many requests in one statement per table and one commit flush,
ingest_service.core.group_commit), and a short in-process cache of tenants and their secrets.

The per-tenant limit is a ``TenantBudget`` (ingest_service.core.limits): tokens leased from Postgres a
chunk at a time and spent in memory, so the batch statements carry no counting.

Everything here works as the least-privilege role ``trackai_app_rw`` (INSERT/SELECT on landing, USAGE
on its sequences, SELECT on core.tenants/core.tenant_secrets, EXECUTE on landing.rate_limit_lease).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import orjson
from psycopg_pool import AsyncConnectionPool

from ingest_service.core.group_commit import DB_ERRORS, REFUSALS, Batch, GroupCommit
from ingest_service.core.limits import TenantBudget
from trackai import feature_flags, secrets
from trackai.core import customer
from trackai.core.gateways import Conversion, Mapped
from trackai.privacy import settings as tenant_privacy
from trackai.privacy.settings import TenantPrivacy
from trackai.settings import Settings

WINDOW_SECONDS = 60


class DatabaseUnavailable(RuntimeError):
    pass


class RowRefused(ValueError):
    """The database refused the mapped values (a CHECK, a numeric overflow): quarantine the body."""


@dataclass
class TenantInfo:
    active: bool
    stored: dict[str, tuple[str | None, str | None]]
    revealed: dict[str, str] = field(default_factory=dict)
    disabled_gateways: frozenset[str] = frozenset()  # rollout flags (trackai.feature_flags), cached alike
    privacy: TenantPrivacy = tenant_privacy.DEFAULT  # consent required, blocked networks (issue 23)

    def secret(self, kind: str, settings: Settings) -> str | None:
        if kind in self.revealed:
            return self.revealed[kind]
        if kind not in self.stored:
            return None
        value = secrets.reveal(*self.stored[kind], settings=settings)
        self.revealed[kind] = value
        return value


@dataclass(frozen=True)
class WebhookResult:
    rate_limited: bool
    duplicate: bool
    webhook_event_id: int | None


# --- the hot-path statements: one per table for a whole group commit --------------------------------
# Each takes the batch's rows as one JSON array (``%(rows)s``, one object per request, built once by
# ``row_json``), reads them with ``json_to_recordset`` (keys not listed are ignored, missing ones are NULL),
# and answers one row per input row: (ord, id or NULL). Per-row semantics of the single-row statements
# they replace (tests/ingest/test_group_commit*.py); the rate limit is decided before a row is queued
# (``TenantBudget``), so the statements count nothing:
# - webhooks: a delivery already landed, or an earlier copy in the same batch, inserts nothing and answers
#   no id (``duplicate``); rows are matched back by the unique (tenant, gateway, delivery_key);
# - clicks: ids are drawn from the table's own identity sequence first, so the click and its identity row
#   share them without relying on RETURNING order.
# Column lists (name, type as read from the JSON): add a column here and the key in the row dict.
CONVERSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("order_id", "text"),
    ("status", "text"),
    ("gateway_status", "text"),
    ("event_time", "timestamptz"),
    ("amount", "numeric"),
    ("currency", "text"),
    ("product_id", "text"),
    ("session_id", "text"),
    ("tracking", "jsonb"),
    ("fbclid", "text"),
    ("fbc", "text"),
    ("fbp", "text"),
    ("client_ip", "inet"),
    ("user_agent", "text"),
    ("email_hash", "text"),
    ("phone_hash", "text"),
    *((column, "text") for column in customer.COLUMNS.values()),  # the buyer's hashed Meta keys (sql/0910)
    ("is_test", "boolean"),  # a gateway test/sandbox delivery (issue 23, sql/1300)
)
CLICK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_type", "text"),
    ("session_id", "text"),
    ("occurred_at", "timestamptz"),
    ("landing_url", "text"),
    ("referrer", "text"),
    ("fbclid", "text"),
    ("fbc", "text"),
    ("fbp", "text"),
    ("client_ip", "inet"),
    ("user_agent", "text"),
    ("email_hash", "text"),
    ("phone_hash", "text"),
    ("external_id", "text"),
    ("utm", "jsonb"),
    ("consent_denied", "boolean"),  # flags of issue 23 (trackai.core.consent / bots, sql/1300)
    ("bot_reason", "text"),
)
# NOT NULL columns with a default: a row without the key gets the default.
_DEFAULTS = {"tracking": "'{}'::jsonb", "utm": "'{}'::jsonb", "consent_denied": "false", "is_test": "false"}
_WEBHOOK_KEYS = (
    ("tenant", "uuid"),
    ("gateway", "text"),
    ("delivery_key", "text"),
    ("event_type", "text"),
    ("payload", "jsonb"),
    ("sha", "text"),
    ("conv", "boolean"),
)
_CLICK_KEYS = (("tenant", "uuid"),)


def _recordset(columns: tuple[tuple[str, str], ...]) -> str:
    typed = ", ".join(f"{name} {kind}" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    return f"ROWS FROM (json_to_recordset(%(rows)s) AS ({typed})) WITH ORDINALITY AS r({names}, ord)"


def _value(column: str, source: str = "") -> str:
    ref = f"{source}{column}"
    return f"coalesce({ref}, {_DEFAULTS[column]})" if column in _DEFAULTS else ref


WEBHOOK_BATCH_SQL = f"""
WITH r AS (SELECT * FROM {_recordset(_WEBHOOK_KEYS + CONVERSION_COLUMNS)}),
adm AS (
    SELECT DISTINCT ON (tenant, gateway, delivery_key) * FROM r ORDER BY tenant, gateway, delivery_key, ord
),
ev AS (
    INSERT INTO landing.webhook_events
           (tenant_id, gateway, delivery_key, event_type, payload_redacted, payload_sha256)
    SELECT tenant, gateway, delivery_key, event_type, payload, sha FROM adm
     ORDER BY tenant, gateway, delivery_key
    ON CONFLICT (tenant_id, gateway, delivery_key) DO NOTHING
    RETURNING webhook_event_id, tenant_id, gateway, delivery_key
),
landed AS (
    SELECT adm.*, ev.webhook_event_id
      FROM adm JOIN ev
        ON ev.tenant_id = adm.tenant AND ev.gateway = adm.gateway AND ev.delivery_key = adm.delivery_key
),
cv AS (
    INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, {", ".join(c for c, _ in CONVERSION_COLUMNS)})
    SELECT webhook_event_id, tenant, gateway, {", ".join(_value(c) for c, _ in CONVERSION_COLUMNS)}
      FROM landed WHERE conv
    RETURNING 1
)
SELECT r.ord, landed.webhook_event_id FROM r LEFT JOIN landed ON landed.ord = r.ord
"""

CLICK_BATCH_SQL = f"""
WITH r AS (SELECT * FROM {_recordset(_CLICK_KEYS + CLICK_COLUMNS)}),
adm AS (SELECT r.*, nextval(pg_get_serial_sequence('landing.clicks', 'click_id')) AS click_id FROM r),
ck AS (
    INSERT INTO landing.clicks (click_id, tenant_id, {", ".join(c for c, _ in CLICK_COLUMNS)})
    OVERRIDING SYSTEM VALUE
    SELECT click_id, tenant, {", ".join(_value(c) for c, _ in CLICK_COLUMNS)} FROM adm
    RETURNING 1
),
idn AS (
    INSERT INTO landing.identities (tenant_id, session_id, click_id, email_hash, phone_hash, seen_at)
    SELECT tenant, session_id, click_id, email_hash, phone_hash, occurred_at
      FROM adm WHERE email_hash IS NOT NULL OR phone_hash IS NOT NULL
    RETURNING 1
)
SELECT ord, click_id FROM adm
"""

WEBHOOKS = Batch("webhook", WEBHOOK_BATCH_SQL)
CLICKS = Batch("click", CLICK_BATCH_SQL)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)  # read back as numeric; never a float
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def row_json(row: dict) -> bytes:
    """One row of a batch as a JSON object. orjson (one C call); the standard library only for what
    orjson will not write (an integer past 64 bits, a lone surrogate, which the database then refuses on
    its own: that row alone)."""
    try:
        return orjson.dumps(row, default=_json_default)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(row, default=_std_default, separators=(",", ":")).encode()


def _std_default(value: object) -> object:
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


QUARANTINE_SQL = """
WITH q AS (
    INSERT INTO landing.webhook_quarantine (tenant_id, gateway, delivery_key, payload_ciphertext, error)
    VALUES (%(tenant)s, %(gateway)s, %(delivery_key)s, %(ciphertext)s, %(error)s)
    RETURNING quarantine_id
),
r AS (
    INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status)
    SELECT %(tenant_ref)s, %(tenant)s, %(gateway)s, 'quarantined', 202 FROM q
    RETURNING 1
)
SELECT quarantine_id FROM q
"""
LEASE_SQL = "SELECT landing.rate_limit_lease(%s, %s, %s, %s, %s)"


class Store:
    def __init__(self, url: str, settings: Settings, *, min_size: int = 1, max_size: int = 10) -> None:
        self.settings = settings
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=3.0,
            kwargs={"autocommit": True},
            # 0: no background reconnect loop while the database is down (psycopg_pool gives up after the
            # second try); connections are reopened on demand by the next requests. tests/reliability R6.
            reconnect_timeout=0,
            name="trackai-ingest",
        )
        self.group = GroupCommit(
            self.pool,
            max_wait=settings.group_commit_max_wait_ms / 1000,
            max_rows=settings.group_commit_max_rows,
            max_batches=settings.group_commit_max_batches,
        )
        self.budget = TenantBudget(
            self._lease, window_seconds=WINDOW_SECONDS, max_lease=settings.rate_limit_lease_max
        )
        self._tenants: dict[uuid.UUID, tuple[float, TenantInfo | None]] = {}
        self._lock = asyncio.Lock()
        self.positive_ttl = 30.0
        self.negative_ttl = 5.0

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.group.close()
        await self.pool.close()

    async def _execute(self, query: str, params: dict | tuple) -> tuple | None:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchone()
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    async def _lease(
        self, tenant: uuid.UUID, scope: str, window_start: datetime, want: int, limit: int
    ) -> int:
        """Tokens of ``tenant``'s budget for this window, up to ``want`` (sql/1600)."""
        row = await self._execute(LEASE_SQL, (tenant, scope, window_start, want, limit))
        return row[0]

    async def _within_budget(self, tenant: uuid.UUID, scope: str, limit: int) -> bool:
        try:
            return await self.budget.take(tenant, scope, limit)
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    async def _land(self, batch: Batch, row: dict) -> int | None:
        """A hot-path row through group commit: its id once committed (None: a duplicate); RowRefused for
        what the database refuses in this row alone."""
        try:
            (landed_id,) = await self.group.land(batch, row_json(row))
            return landed_id
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except REFUSALS as exc:
            raise RowRefused(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc

    async def tenant(self, tenant_id: uuid.UUID) -> TenantInfo | None:
        key = tenant_id  # the UUID itself: no str() per request (issue 21)
        now = time.monotonic()
        cached = self._tenants.get(key)
        if cached and cached[0] > now:
            return cached[1]
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    """
                    SELECT t.active, s.kind, s.secret_ciphertext, s.secret_ref
                      FROM core.tenants t LEFT JOIN core.tenant_secrets s ON s.tenant_id = t.tenant_id
                     WHERE t.tenant_id = %s
                    """,
                    (tenant_id,),
                )
                rows = await cur.fetchall()
                disabled: list[str] = []
                privacy_row = None
                if rows:
                    cur = await conn.execute(feature_flags.DISABLED_GATEWAYS_SQL, {"tenant": tenant_id})
                    disabled = (await cur.fetchone())[0]
                    cur = await conn.execute(tenant_privacy.TENANT_PRIVACY_SQL, {"tenant": tenant_id})
                    privacy_row = await cur.fetchone()
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        info = None
        if rows:
            info = TenantInfo(
                active=rows[0][0],
                stored={r[1]: (r[2], r[3]) for r in rows if r[1]},
                disabled_gateways=frozenset(disabled),
                privacy=TenantPrivacy.from_row(privacy_row),
            )
        ttl = self.positive_ttl if info else self.negative_ttl
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[key] = (now + ttl, info)
        return info

    async def land_webhook(
        self, tenant_id: uuid.UUID, gateway: str, mapped: Mapped, raw_body: bytes, limit: int
    ) -> WebhookResult:
        if not await self._within_budget(tenant_id, "webhook", limit):
            return WebhookResult(rate_limited=True, duplicate=False, webhook_event_id=None)
        row: dict = {
            "tenant": tenant_id,
            "gateway": gateway,
            "delivery_key": mapped.delivery_key,
            "event_type": mapped.event_type,
            "payload": mapped.payload_redacted,
            "sha": hashlib.sha256(raw_body).hexdigest(),
            "conv": mapped.conversion is not None,
        }
        if mapped.conversion is not None:
            row.update(_conversion_params(mapped.conversion))
        event_id = await self._land(WEBHOOKS, row)
        return WebhookResult(rate_limited=False, duplicate=event_id is None, webhook_event_id=event_id)

    async def quarantine(
        self,
        tenant_id: uuid.UUID,
        tenant_ref: str,
        gateway: str,
        delivery_key: str | None,
        raw_body: bytes,
        error: str,
        limit: int,
    ) -> bool:
        """Keep an unmappable body encrypted, under the tenant's webhook budget; True: rate limited."""
        if not await self._within_budget(tenant_id, "webhook", limit):
            return True
        await self._execute(
            QUARANTINE_SQL,
            {
                "tenant": tenant_id,
                "tenant_ref": pg_text(tenant_ref, 200),
                "gateway": gateway,
                "delivery_key": pg_text(delivery_key, 400),
                "ciphertext": secrets.encrypt(raw_body, self.settings),
                "error": pg_text(error, 1000),
            },
        )
        return False

    async def insert_rejections(self, rows: list[tuple]) -> None:
        """Aggregated refusals: (tenant_ref, tenant_id, gateway, reason, http_status, hits, minute) each."""
        columns = list(zip(*rows, strict=True))
        await self._execute(
            """
            INSERT INTO landing.webhook_rejections
                   (tenant_ref, tenant_id, gateway, reason, http_status, hits, created_at)
            SELECT * FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::text[], %s::int[], %s::int[],
                                 %s::timestamptz[])
            RETURNING 1
            """,
            [list(c) for c in columns],
        )

    async def land_click(self, params: dict, limit: int, scope: str = "click") -> tuple[bool, int | None]:
        """One click under the tenant's budget for ``scope`` (``click``, or ``lead`` with its own):
        (rate limited, click id)."""
        if not await self._within_budget(params["tenant"], scope, limit):
            return True, None
        # consent_denied / bot_reason (issue 23) come in ``params``; absent: false / NULL (CLICK_COLUMNS)
        return False, await self._land(CLICKS, params)

    async def applied_migrations(self) -> set[str]:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute("SELECT landing.applied_migrations()")
                return {r[0] for r in await cur.fetchall()}
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc


def _conversion_params(conversion: Conversion) -> dict:
    return {
        "order_id": conversion.order_id,
        "status": conversion.status,
        "gateway_status": conversion.gateway_status,
        "event_time": conversion.event_time,
        "amount": conversion.amount,
        "currency": conversion.currency,
        "product_id": conversion.product_id,
        "session_id": conversion.session_id,
        "tracking": conversion.tracking,
        "fbclid": conversion.fbclid,
        "fbc": conversion.fbc,
        "fbp": conversion.fbp,
        "client_ip": valid_ip(conversion.client_ip),
        "user_agent": conversion.user_agent,
        "email_hash": conversion.email_hash,
        "phone_hash": conversion.phone_hash,
        "is_test": conversion.is_test,  # a gateway test/sandbox delivery (issue 23)
        **{column: conversion.customer.get(key) for key, column in customer.COLUMNS.items()},
    }


def pg_text(value: str | None, limit: int) -> str | None:
    """Text Postgres can store: no NUL, no lone surrogate. Paths and bodies are attacker-controlled, and a
    refusal or a quarantine must not turn into a 500 because of one byte."""
    if value is None:
        return None
    return value[:limit].replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
