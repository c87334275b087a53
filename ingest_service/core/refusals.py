"""Refused webhooks, counted and limited per source address, landed as counts per minute.

A refusal costs the attacker one request and used to cost us a row and a log line each. Now a refusal
is a counter increment in memory: every ``refusal_flush_seconds`` the counts land as one
``landing.webhook_rejections`` row per (minute, tenant, gateway, reason, status) with ``hits``, and one
WARNING line per such key. Labels are closed sets: the tenant is kept only when it is a known tenant
(otherwise NULL, ``tenant_ref = 'unknown'``), an unknown gateway is ``invalid``; so neither rows nor
lines grow with what an attacker puts in the path. Counts of a crashed worker's last seconds are lost
(they are telemetry, not data).

Two budgets per source address and minute (addresses in ``refusal_limit_exempt_networks`` have none):

- Refusals no known tenant can be blamed for (unknown tenant or gateway, no credential, a body that
  never arrived whole) are the cheap noise that makes us look tenants up: past
  ``webhook_refusals_per_address_per_min`` of them, everything from that address gets 429 before any
  work (body read, tenant lookup, signature).
- Refusals of a known tenant (a wrong signature, a stale timestamp, an oversized body): past
  ``webhook_refusals_per_address_tenant_per_min`` for that tenant, a further failed verification from
  that address answers 429 and is no longer attributed to the tenant (so one address cannot fail the
  tenant's success rate), while a correctly signed delivery from the same address is still accepted:
  a gateway address that also carries a misconfigured integration loses nothing valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from ingest_service.core.limits import WindowCounter, address_key
from ingest_service.core.logging import log
from ingest_service.core.metrics import INVALID, Metrics
from ingest_service.core.store import DatabaseUnavailable, Store
from trackai.settings import Settings

ADDRESS_LIMITED = "address_limited"
# Refusals from these reasons are not attributed to a tenant even when the path names a known one.
_UNATTRIBUTED = frozenset({ADDRESS_LIMITED})
# Nor charged to the address: a client that hung up mid-body (a gateway's network glitch as often as
# not) has cost a closed socket, and must not get a real delivery from the same address refused.
_UNCHARGED = frozenset({ADDRESS_LIMITED, "client_disconnected"})
Key = tuple[int, uuid.UUID | None, str, str, int]  # minute (epoch s), tenant, gateway, reason, status


class Refusals:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics, exempt: tuple = ()) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.exempt = exempt
        self.per_address = WindowCounter()
        self.per_address_tenant = WindowCounter()
        self.pending: Counter[Key] = Counter()
        self._task: asyncio.Task | None = None

    # --- limiting ------------------------------------------------------------------------------

    def _exempt(self, address: str | None) -> bool:
        if not address or not self.exempt:
            return False
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.exempt)

    def over_budget(self, address: str | None) -> bool:
        """True when this address has used up its budget of unattributed refusals: 429 before any work."""
        return (
            not self._exempt(address)
            and self.per_address.count(address_key(address))
            >= self.settings.webhook_refusals_per_address_per_min
        )

    def over_tenant_budget(self, address: str | None, tenant: uuid.UUID) -> bool:
        """True when this address has already been refused its budget for this (known) tenant."""
        return (
            not self._exempt(address)
            and self.per_address_tenant.count((address_key(address), tenant))
            >= self.settings.webhook_refusals_per_address_tenant_per_min
        )

    def retry_after(self) -> str:
        return str(self.per_address.retry_after())

    # --- counting ------------------------------------------------------------------------------

    def add(
        self, address: str | None, tenant: uuid.UUID | None, gateway: str, reason: str, status: int
    ) -> None:
        """One refusal: charged to the address's budget, counted in metrics, queued for the next flush.
        ``tenant`` is set only for a known tenant; ``gateway`` is already a closed label."""
        attributed = tenant is not None and gateway != INVALID and reason not in _UNATTRIBUTED
        if reason not in _UNCHARGED:
            key = address_key(address)
            if attributed:
                self.per_address_tenant.hit((key, tenant))
            else:
                self.per_address.hit(key)
        if attributed:
            self.metrics.rejections.labels(gateway, reason).inc()
        else:
            tenant = None
            self.metrics.unattributed.labels(gateway, reason).inc()
        minute = int(time.time() // 60 * 60)
        self.pending[(minute, tenant, gateway, reason, status)] += 1
        log.debug(
            "webhook refused",
            extra={
                "tenant_id": str(tenant) if tenant else None,
                "gateway": gateway,
                "reason": reason,
                "status": status,
            },
        )

    async def flush(self) -> int:
        """Land the counts gathered so far (one row per key) and log one line per key; returns the rows.
        When the database is unavailable the counts wait for the next flush."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, Counter()
        rows = [
            (
                str(tenant) if tenant else "unknown",
                tenant,
                gateway,
                reason,
                status,
                hits,
                datetime.fromtimestamp(minute, UTC),
            )
            for (minute, tenant, gateway, reason, status), hits in batch.items()
        ]
        try:
            await self.store.insert_rejections(rows)
        except DatabaseUnavailable:
            self.pending.update(batch)
            return 0
        for _ref, tenant, gateway, reason, status, hits, _minute in rows:
            log.warning(
                "webhook refusals",
                extra={
                    "tenant_id": str(tenant) if tenant else None,
                    "gateway": gateway,
                    "reason": reason,
                    "status": status,
                    "events": hits,
                },
            )
        return len(rows)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refusal_flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # never let telemetry take the worker down
                log.error("refusal counts not landed", extra={"reason": type(exc).__name__})

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="trackai-refusal-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
