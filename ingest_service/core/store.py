"""Database access for the ingest service: an async psycopg pool, one statement per hot-path request,
landed by group commit (many requests' statements in one transaction and one commit flush,
ingest_service.core.group_commit), and a short in-process cache of tenants and their secrets.

Everything here works as the least-privilege role ``trackai_app_rw`` (INSERT/SELECT on landing,
SELECT on core.tenants/core.tenant_secrets, EXECUTE on landing.rate_limit_hit).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass, field

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ingest_service.core.group_commit import DB_ERRORS, REFUSALS, GroupCommit
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
    hits: int
    webhook_event_id: int | None


_WEBHOOK_COLUMNS = """
    tenant_id, gateway, delivery_key, event_type, payload_redacted, payload_sha256
"""
_CONVERSION_SQL = """,
cv AS (
    INSERT INTO landing.conversions (
        webhook_event_id, tenant_id, gateway, order_id, status, gateway_status, event_time, amount,
        currency, product_id, session_id, tracking, fbclid, fbc, fbp, client_ip, user_agent,
        email_hash, phone_hash, {customer_columns}, is_test)
    SELECT ev.webhook_event_id, %(tenant)s, %(gateway)s, %(order_id)s, %(status)s, %(gateway_status)s,
           %(event_time)s, %(amount)s, %(currency)s, %(product_id)s, %(session_id)s, %(tracking)s,
           %(fbclid)s, %(fbc)s, %(fbp)s, %(client_ip)s::inet, %(user_agent)s, %(email_hash)s, %(phone_hash)s,
           {customer_params}, %(is_test)s
      FROM ev
    RETURNING conversion_id
)""".format(  # the buyer's hashed Meta keys (trackai.core.customer, sql/0910)
    customer_columns=", ".join(customer.COLUMNS.values()),
    customer_params=", ".join(f"%({c})s" for c in customer.COLUMNS.values()),
)
_WEBHOOK_SQL = """
WITH rl AS (SELECT landing.rate_limit_hit(%(tenant)s, 'webhook', {window}) AS hits),
ev AS (
    INSERT INTO landing.webhook_events ({columns})
    SELECT %(tenant)s, %(gateway)s, %(delivery_key)s, %(event_type)s, %(payload)s, %(sha)s
      FROM rl WHERE rl.hits <= %(limit)s
    ON CONFLICT (tenant_id, gateway, delivery_key) DO NOTHING
    RETURNING webhook_event_id
){conversion}
SELECT (SELECT hits FROM rl), (SELECT webhook_event_id FROM ev)
"""
WEBHOOK_WITH_CONVERSION = _WEBHOOK_SQL.format(
    window=WINDOW_SECONDS, columns=_WEBHOOK_COLUMNS, conversion=_CONVERSION_SQL
)
WEBHOOK_ONLY = _WEBHOOK_SQL.format(window=WINDOW_SECONDS, columns=_WEBHOOK_COLUMNS, conversion="")

QUARANTINE_SQL = f"""
WITH rl AS (SELECT landing.rate_limit_hit(%(tenant)s, 'webhook', {WINDOW_SECONDS}) AS hits),
q AS (
    INSERT INTO landing.webhook_quarantine (tenant_id, gateway, delivery_key, payload_ciphertext, error)
    SELECT %(tenant)s, %(gateway)s, %(delivery_key)s, %(ciphertext)s, %(error)s FROM rl WHERE rl.hits <= %(limit)s
    RETURNING quarantine_id
),
r AS (
    INSERT INTO landing.webhook_rejections (tenant_ref, tenant_id, gateway, reason, http_status)
    SELECT %(tenant_ref)s, %(tenant)s, %(gateway)s, 'quarantined', 202 FROM q
    RETURNING 1
)
SELECT (SELECT hits FROM rl), (SELECT quarantine_id FROM q)
"""

CLICK_SQL = f"""
WITH rl AS (SELECT landing.rate_limit_hit(%(tenant)s, %(scope)s, {WINDOW_SECONDS}) AS hits),
ck AS (
    INSERT INTO landing.clicks (tenant_id, event_type, session_id, occurred_at, landing_url, referrer, fbclid,
                                fbc, fbp, client_ip, user_agent, email_hash, phone_hash, external_id, utm,
                                consent_denied, bot_reason)
    SELECT %(tenant)s, %(event_type)s, %(session_id)s, %(occurred_at)s, %(landing_url)s, %(referrer)s,
           %(fbclid)s, %(fbc)s, %(fbp)s, %(client_ip)s::inet, %(user_agent)s, %(email_hash)s, %(phone_hash)s,
           %(external_id)s, %(utm)s, %(consent_denied)s, %(bot_reason)s
      FROM rl WHERE rl.hits <= %(limit)s
    RETURNING click_id
),
idn AS (
    INSERT INTO landing.identities (tenant_id, session_id, click_id, email_hash, phone_hash, seen_at)
    SELECT %(tenant)s, %(session_id)s, ck.click_id, %(email_hash)s, %(phone_hash)s, %(occurred_at)s
      FROM ck WHERE %(email_hash)s::text IS NOT NULL OR %(phone_hash)s::text IS NOT NULL
    RETURNING identity_id
)
SELECT (SELECT hits FROM rl), (SELECT click_id FROM ck)
"""


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
        self._tenants: dict[str, tuple[float, TenantInfo | None]] = {}
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

    async def _land(self, query: str, params: dict) -> tuple | None:
        """A hot-path statement through group commit: its row once committed, REFUSALS as raised."""
        try:
            return await self.group.fetchone(query, params)
        except DB_ERRORS as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    async def tenant(self, tenant_id: uuid.UUID) -> TenantInfo | None:
        key = str(tenant_id)
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
        params: dict = {
            "tenant": tenant_id,
            "gateway": gateway,
            "delivery_key": mapped.delivery_key,
            "event_type": mapped.event_type,
            "payload": Jsonb(mapped.payload_redacted),
            "sha": hashlib.sha256(raw_body).hexdigest(),
            "limit": limit,
        }
        conversion = mapped.conversion
        if conversion is not None:
            params.update(_conversion_params(conversion))
        try:
            row = await self._land(WEBHOOK_WITH_CONVERSION if conversion else WEBHOOK_ONLY, params)
        except REFUSALS as exc:
            # UnicodeEncodeError: a lone surrogate (JSON "\ud800") bound to a text column.
            raise RowRefused(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        hits, event_id = row if row else (0, None)
        rate_limited = hits > limit
        return WebhookResult(rate_limited, not rate_limited and event_id is None, hits, event_id)

    async def quarantine(
        self,
        tenant_id: uuid.UUID,
        tenant_ref: str,
        gateway: str,
        delivery_key: str | None,
        raw_body: bytes,
        error: str,
        limit: int,
    ) -> tuple[bool, int]:
        row = await self._execute(
            QUARANTINE_SQL,
            {
                "tenant": tenant_id,
                "tenant_ref": pg_text(tenant_ref, 200),
                "gateway": gateway,
                "delivery_key": pg_text(delivery_key, 400),
                "ciphertext": secrets.encrypt(raw_body, self.settings),
                "error": pg_text(error, 1000),
                "limit": limit,
            },
        )
        hits = row[0] if row else 0
        return hits > limit, hits

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

    async def land_click(
        self, params: dict, limit: int, scope: str = "click"
    ) -> tuple[bool, int | None, int]:
        """One click under the tenant's budget for ``scope`` (``click``, or ``lead`` with its own)."""
        try:
            row = await self._land(
                CLICK_SQL,
                {
                    "consent_denied": False,  # flags of issue 23 (trackai.core.consent / bots)
                    "bot_reason": None,
                    **params,
                    "scope": scope,
                    "limit": limit,
                    "utm": Jsonb(params.get("utm") or {}),
                },
            )
        except REFUSALS as exc:  # e.g. a NUL byte
            raise RowRefused(f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        hits, click_id = row if row else (0, None)
        return hits > limit, click_id, hits

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
        "tracking": Jsonb(conversion.tracking),
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
