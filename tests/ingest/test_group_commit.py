"""Group commit (issue 21) against a real Postgres: requests in flight land in one transaction, each is
answered only once its row is committed, a retry is still a duplicate, one bad row fails alone, and a
database outage fails every waiting request (the routes answer 503)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from ingest_service.core.store import DatabaseUnavailable, RowRefused, Store
from trackai import db
from trackai.core.gateways import Mapped
from trackai.settings import get_settings

LIMIT = 1_000_000


def _click(tenant: str, session: str, url: str = "https://shop.example/p") -> dict:
    return {
        "tenant": tenant,
        "event_type": "click",
        "session_id": session,
        "occurred_at": datetime.now(UTC),
        "landing_url": url,
        "referrer": None,
        "fbclid": None,
        "fbc": None,
        "fbp": None,
        "client_ip": "203.0.113.7",
        "user_agent": "test",
        "email_hash": None,
        "phone_hash": None,
        "external_id": None,
        "utm": {},
    }


async def _with_store(url: str, coro, **overrides):
    settings = get_settings().model_copy(update=overrides)
    store = Store(url, settings)
    await store.open()
    try:
        return await coro(store)
    finally:
        await store.close()


def _app_url(pg_url: str) -> str:
    return db.with_user(pg_url, "trackai_app_rw")


def test_concurrent_clicks_share_commits_and_are_visible_when_answered(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    sessions = [f"gc-{uuid.uuid4().hex[:8]}-{i}" for i in range(40)]

    async def scenario(store: Store):
        async def one(session: str) -> bool:
            limited, click_id = await store.land_click(_click(tenant, session), LIMIT)
            assert not limited and click_id
            # answered: the row is committed, so another connection sees it now
            with psycopg.connect(pg_url, autocommit=True) as other:
                return other.execute(
                    "SELECT 1 FROM landing.clicks WHERE click_id = %s", (click_id,)
                ).fetchone()

        return await asyncio.gather(*(one(s) for s in sessions))

    seen = asyncio.run(_with_store(_app_url(pg_url), scenario, group_commit_max_batches=1))
    assert all(seen)
    transactions = conn.execute(
        "SELECT count(DISTINCT xmin::text) FROM landing.clicks WHERE session_id = ANY(%s)", (sessions,)
    ).fetchone()[0]
    assert transactions < len(sessions) / 2  # 40 requests, far fewer commits


def test_one_refused_row_fails_alone(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    sessions = [f"gc-bad-{uuid.uuid4().hex[:8]}-{i}" for i in range(12)]

    async def scenario(store: Store):
        params = [_click(tenant, s) for s in sessions]
        params[6]["landing_url"] = "https://shop.example/\x00"  # Postgres refuses NUL in text
        return await asyncio.gather(*(store.land_click(p, LIMIT) for p in params), return_exceptions=True)

    results = asyncio.run(_with_store(_app_url(pg_url), scenario, group_commit_max_batches=1))
    assert isinstance(results[6], RowRefused)
    assert all(not isinstance(r, BaseException) and r[1] for i, r in enumerate(results) if i != 6)
    landed = conn.execute(
        "SELECT count(*) FROM landing.clicks WHERE session_id = ANY(%s)", (sessions,)
    ).fetchone()[0]
    assert landed == 11


def test_a_retry_in_the_same_batch_is_a_duplicate_without_a_new_row(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    key = f"evt_{uuid.uuid4().hex}"
    mapped = Mapped(key, "checkout.session.completed", None, {"id": key})

    async def scenario(store: Store):
        return await asyncio.gather(
            *(store.land_webhook(uuid.UUID(tenant), "stripe", mapped, b"{}", LIMIT) for _ in range(5))
        )

    results = asyncio.run(_with_store(_app_url(pg_url), scenario))
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    rows = conn.execute(
        "SELECT count(*) FROM landing.webhook_events WHERE delivery_key = %s", (key,)
    ).fetchone()[0]
    assert rows == 1


def test_database_outage_fails_every_waiting_request(make_tenant) -> None:
    tenant, _ = make_tenant()
    closed = "postgresql://trackai_app_rw@127.0.0.1:9/postgres?connect_timeout=1"  # nothing listens on 9

    async def scenario(store: Store):
        store.pool.timeout = 1.0
        return await asyncio.gather(
            *(store.land_click(_click(tenant, f"gc-down-{i}"), LIMIT) for i in range(6)),
            return_exceptions=True,
        )

    results = asyncio.run(_with_store(closed, scenario))
    assert all(isinstance(r, DatabaseUnavailable) for r in results), results


@pytest.mark.parametrize("rows", [1, 3])
def test_max_rows_bounds_a_batch(pg_url, conn, make_tenant, rows: int) -> None:
    tenant, _ = make_tenant()
    sessions = [f"gc-rows{rows}-{uuid.uuid4().hex[:8]}-{i}" for i in range(9)]

    async def scenario(store: Store):
        await asyncio.gather(*(store.land_click(_click(tenant, s), LIMIT) for s in sessions))

    asyncio.run(
        _with_store(_app_url(pg_url), scenario, group_commit_max_rows=rows, group_commit_max_batches=1)
    )
    per_transaction = conn.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM landing.clicks WHERE session_id = ANY(%s) GROUP BY xmin::text) t",
        (sessions,),
    ).fetchone()[0]
    assert per_transaction <= rows


def test_at_most_max_batches_commit_at_once_and_a_batch_mixes_tenants(pg_url, conn, make_tenant) -> None:
    """One queue for every tenant: rows that queued while batches committed go together in the next one."""
    tenants = [make_tenant(f"Seller {i}")[0] for i in range(3)]
    sessions = [f"gc-mix-{uuid.uuid4().hex[:8]}-{i}" for i in range(90)]
    peak = {"now": 0, "max": 0}

    async def scenario(store: Store):
        run = store.group._run

        async def counted(*args):
            peak["now"] += 1
            peak["max"] = max(peak["max"], peak["now"])
            try:
                return await run(*args)
            finally:
                peak["now"] -= 1

        for tenant in tenants:  # each tenant's first lease taken: the burst below queues at once
            await store.land_click(_click(tenant, f"gc-mix-warm-{uuid.uuid4().hex[:8]}"), LIMIT)
        store.group._run = counted
        await asyncio.gather(
            *(store.land_click(_click(tenants[i % 3], s), LIMIT) for i, s in enumerate(sessions))
        )

    asyncio.run(_with_store(_app_url(pg_url), scenario, group_commit_max_batches=2))
    assert peak["max"] == 2
    mixed = conn.execute(
        "SELECT max(n) FROM (SELECT count(DISTINCT tenant_id) AS n FROM landing.clicks"
        " WHERE session_id = ANY(%s) GROUP BY xmin::text) t",
        (sessions,),
    ).fetchone()[0]
    assert mixed == 3
