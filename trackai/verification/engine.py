"""``verify_purchases``: one verification run over every approved purchase not queued for Meta yet.

Runs as its own step in the micro-batch job (Dagster asset ``core/purchase_verifications``) and again
at the start of every dispatch enqueue (``trackai.dispatch.store.enqueue``), so nothing reaches the
queue unverified whatever the order of the steps or whoever calls dispatch (CLI, demo, DLQ job). A run
that finds nothing to do costs one query. One run at a time (advisory lock); the decisions are the pure
functions of ``trackai.verification.rules``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from trackai import tenants
from trackai.settings import Settings, VerifySettings, get_settings
from trackai.verification import rules, store
from trackai.verification.clients import HotmartSales, KiwifySales, SalesApiError, sales_client
from trackai.verification.credentials import CredentialsError, parse_credentials

LOCK_KEY = 0x7A_C4_5E_11  # "trackai verification"
log = logging.getLogger("trackai.verification")


def limits_from(cfg: VerifySettings) -> rules.Limits:
    return rules.Limits(
        amount_min_ratio=cfg.amount_min_ratio,
        amount_max_ratio=cfg.amount_max_ratio,
        api_amount_tolerance=cfg.api_amount_tolerance,
        not_found_grace=timedelta(minutes=cfg.not_found_grace_minutes),
        api_give_up=timedelta(minutes=cfg.api_give_up_minutes),
    )


class _Clients:
    """One sales-API client per (tenant, gateway) per run; None when the stored credentials are unusable."""

    def __init__(self, conn: psycopg.Connection, cfg: VerifySettings, http: httpx.Client) -> None:
        self.conn, self.cfg, self.http = conn, cfg, http
        self._clients: dict[tuple[str, str], HotmartSales | KiwifySales | None] = {}
        self.errors: dict[tuple[str, str], str] = {}

    def get(self, tenant_id: str, gateway: str) -> HotmartSales | KiwifySales | None:
        key = (tenant_id, gateway)
        if key not in self._clients:
            kind = rules.SALES_API_KINDS[gateway]
            try:
                credentials = parse_credentials(kind, tenants.get_secret(self.conn, tenant_id, kind) or "")
            except CredentialsError as exc:
                self.errors[key] = str(exc)
                self._clients[key] = None
            else:
                self._clients[key] = sales_client(
                    gateway,
                    credentials,
                    self.http,
                    hotmart_api_url=self.cfg.hotmart_api_url,
                    hotmart_auth_url=self.cfg.hotmart_auth_url,
                    kiwify_api_url=self.cfg.kiwify_api_url,
                )
        return self._clients[key]


def verify_purchases(
    conn: psycopg.Connection,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    tenant_id: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """Verify what needs it and record the verdicts; returns counts per outcome (and ``deferred``: left
    for the next run because of ``api_max_calls_per_run``)."""
    cfg = (settings or get_settings()).verify
    now = now or datetime.now(UTC)
    conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        return _run(conn, cfg, now, tenant_id, transport)
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _run(
    conn: psycopg.Connection,
    cfg: VerifySettings,
    now: datetime,
    tenant_id: str | None,
    transport: httpx.BaseTransport | None,
) -> dict:
    todo = store.candidates(conn, now=now, tenant_id=tenant_id)
    summary: Counter[str] = Counter()
    if not todo:
        return {"candidates": 0}
    tenant_ids = {c.tenant_id for c in todo}
    references = store.references(conn, tenant_ids)
    with_api = store.api_credential_kinds(conn, tenant_ids)
    limits = limits_from(cfg)
    results: list[store.Result] = []
    calls = 0
    with httpx.Client(timeout=cfg.api_timeout_seconds, transport=transport) as http:
        clients = _Clients(conn, cfg, http)
        for candidate in todo:
            purchase = rules.Purchase(
                candidate.tenant_id,
                candidate.gateway,
                candidate.order_id,
                candidate.amount,
                candidate.currency,
                candidate.product_id,
            )
            reference = references.get(candidate.tenant_id, rules.Reference())
            first = candidate.first_checked_at or now
            kind = rules.SALES_API_KINDS.get(candidate.gateway)
            detail = None
            if kind and (candidate.tenant_id, kind) in with_api:
                if calls >= cfg.api_max_calls_per_run:
                    summary["deferred"] += 1
                    continue
                client = clients.get(candidate.tenant_id, candidate.gateway)
                try:
                    if client is None:
                        raise SalesApiError(clients.errors[(candidate.tenant_id, candidate.gateway)])
                    calls += 1
                    sale = client.lookup(candidate.order_id)
                except SalesApiError as exc:
                    detail = str(exc)
                    verdict = rules.api_error_verdict(
                        purchase, reference, first_checked_at=first, now=now, limits=limits
                    )
                else:
                    verdict = rules.check_against_sale(
                        purchase, sale, first_checked_at=first, now=now, limits=limits
                    )
            else:
                verdict = rules.without_sales_api(purchase, reference, limits)
            ok = rules.dispatchable(verdict.outcome, candidate.policy or cfg.unverifiable_policy)  # type: ignore[arg-type]
            results.append(store.Result(candidate, verdict, ok, detail))
            summary[verdict.outcome] += 1
            if not ok and (verdict.outcome, verdict.reason) != (
                candidate.previous_outcome,
                candidate.previous_reason,
            ):
                log.warning(
                    "purchase kept from Meta",
                    extra={
                        "tenant_id": candidate.tenant_id,
                        "event_id": candidate.event_id,
                        "gateway": candidate.gateway,
                        "outcome": verdict.outcome,
                        "reason": verdict.reason,
                    },
                )
    store.write(conn, results, now)
    return {"candidates": len(todo), **summary, "api_calls": calls}
