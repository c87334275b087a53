"""The per-tenant budget (issue 21): ``landing.rate_limit_lease`` (sql/1600) hands out a tenant's tokens for
a window, never more than the limit in total, and ``TenantBudget`` spends them in memory. Within a worker
the count is exact; across workers the window never admits more than the limit, and a request can be
refused only while other workers hold unspent tokens (at most ``max_lease`` each)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from ingest_service.core.limits import TenantBudget
from ingest_service.core.store import Store
from trackai import db
from trackai.settings import get_settings

LEASE = "SELECT landing.rate_limit_lease(%s, %s, %s, %s, %s)"
WINDOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


# --- the lease in Postgres ------------------------------------------------------------------------


def test_grants_add_up_to_the_limit_and_no_further(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    assert a.execute(LEASE, (tenant, "click", WINDOW, 4, 10)).fetchone()[0] == 4
    assert b.execute(LEASE, (tenant, "click", WINDOW, 4, 10)).fetchone()[0] == 4
    assert a.execute(LEASE, (tenant, "click", WINDOW, 4, 10)).fetchone()[0] == 2  # what is left
    assert b.execute(LEASE, (tenant, "click", WINDOW, 4, 10)).fetchone()[0] == 0
    assert a.execute(LEASE, (tenant, "click", WINDOW, -5, 10)).fetchone()[0] == 0  # nothing given back


def test_tenants_scopes_and_windows_count_apart(two_conns, make_tenant) -> None:
    t1, _ = make_tenant()
    t2, _ = make_tenant("Other Seller")
    a, _ = two_conns
    assert a.execute(LEASE, (t1, "click", WINDOW, 5, 5)).fetchone()[0] == 5
    assert a.execute(LEASE, (t1, "lead", WINDOW, 5, 5)).fetchone()[0] == 5
    assert a.execute(LEASE, (t2, "click", WINDOW, 5, 5)).fetchone()[0] == 5
    later = WINDOW.replace(minute=1)
    assert a.execute(LEASE, (t1, "click", later, 5, 5)).fetchone()[0] == 5


def test_concurrent_leases_serialise_on_the_window_row_and_never_overgrant(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    seen: list[int] = []
    with a.transaction():
        assert a.execute(LEASE, (tenant, "click", WINDOW, 6, 10)).fetchone()[0] == 6
        waiter = threading.Thread(
            target=lambda: seen.append(b.execute(LEASE, (tenant, "click", WINDOW, 6, 10)).fetchone()[0])
        )
        waiter.start()
        time.sleep(0.3)
        assert seen == []  # waits for a's commit instead of granting from a stale count
    waiter.join(timeout=10)
    assert seen == [4]


def test_workers_of_the_previous_release_count_leased_tokens_as_hits(two_conns, make_tenant) -> None:
    """A rolling upgrade: old workers still call rate_limit_take (sql/1500) and see what new ones leased."""
    tenant, _ = make_tenant()
    a, b = two_conns
    now = a.execute("SELECT to_timestamp(floor(extract(epoch FROM now()) / 60) * 60)").fetchone()[0]
    assert a.execute(LEASE, (tenant, "click", now, 5, 10)).fetchone()[0] == 5
    assert b.execute("SELECT landing.rate_limit_take(%s, 'click', 60, 2, 3)", (tenant,)).fetchone()[0] == 7


def test_the_app_role_cannot_touch_the_counts_directly(two_conns) -> None:
    a, _ = two_conns
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        a.execute("UPDATE landing.rate_limit_windows SET hits = 0")


# --- TenantBudget against an in-memory stand-in for the lease -------------------------------------------


class Leases:
    """What sql/1600 does, in memory: grants min(want, limit - leased) per (tenant, scope, window)."""

    def __init__(self, fail: bool = False) -> None:
        self.leased: dict[tuple, int] = {}
        self.calls: list[int] = []
        self.fail = fail

    async def __call__(self, tenant, scope, start, want, limit) -> int:
        await asyncio.sleep(0)  # a round trip: other requests run meanwhile
        self.calls.append(want)
        if self.fail:
            raise psycopg.OperationalError("database down")
        key = (tenant, scope, start)
        granted = max(0, min(want, limit - self.leased.get(key, 0)))
        self.leased[key] = self.leased.get(key, 0) + granted
        return granted


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_within_one_worker_the_count_is_exact_and_leases_grow() -> None:
    leases = Leases()
    budget = TenantBudget(leases, max_lease=8, clock=Clock())

    async def scenario() -> list[bool]:
        return [await budget.take("t", "click", 40) for _ in range(50)]

    assert asyncio.run(scenario()) == [True] * 40 + [False] * 10
    assert leases.calls[:5] == [2, 2, 4, 8, 8]  # limit // 16 first, then doubling up to max_lease
    assert max(leases.calls) == 8


def test_a_small_limit_starts_with_one_token_and_a_large_one_with_a_full_lease() -> None:
    leases = Leases()
    budget = TenantBudget(leases, max_lease=64, clock=Clock())

    async def scenario() -> None:
        await budget.take("small", "lead", 10)
        await budget.take("large", "click", 6000)

    asyncio.run(scenario())
    assert leases.calls == [1, 64]


def test_once_postgres_grants_nothing_the_tenant_is_refused_without_asking_until_the_window_rolls() -> None:
    leases, clock = Leases(), Clock()
    budget = TenantBudget(leases, max_lease=4, clock=clock)

    async def takes(n: int) -> list[bool]:
        return [await budget.take("t", "webhook", 3) for _ in range(n)]

    assert asyncio.run(takes(1000)) == [True] * 3 + [False] * 997
    asked = len(leases.calls)
    assert asked <= 4  # a flood of refusals costs no database work
    clock.now += 60  # next window: a fresh budget
    assert asyncio.run(takes(4)) == [True] * 3 + [False]
    assert len(leases.calls) > asked


def test_concurrent_requests_share_one_lease_call() -> None:
    leases = Leases()
    budget = TenantBudget(leases, max_lease=64, clock=Clock())

    async def scenario() -> list[bool]:
        return await asyncio.gather(*(budget.take("t", "click", 1000) for _ in range(20)))

    assert all(asyncio.run(scenario()))
    assert len(leases.calls) < 20 and sum(leases.calls) >= 20


@pytest.mark.parametrize("limit", [1, 7, 25, 100])
def test_two_workers_never_admit_more_than_the_limit_and_refuse_only_with_tokens_unspent(limit: int) -> None:
    leases, clock = Leases(), Clock()
    workers = [TenantBudget(leases, max_lease=8, clock=clock) for _ in range(2)]

    async def scenario() -> list[bool]:
        # interleaved: each worker's requests run concurrently with the other's
        return await asyncio.gather(*(workers[i % 2].take("t", "lead", limit) for i in range(3 * limit + 20)))

    results = asyncio.run(scenario())
    admitted = sum(results)
    assert admitted <= limit
    unspent = sum(b._budgets[("t", "lead")].tokens for b in workers)
    assert admitted + unspent == limit  # every refusal happened with the rest leased, never overgranted
    assert unspent <= 8  # the refusing worker held none, the other at most max_lease


def test_database_trouble_reaches_every_waiting_request_and_the_next_one_asks_again() -> None:
    leases = Leases(fail=True)
    budget = TenantBudget(leases, clock=Clock())

    async def scenario() -> list:
        return await asyncio.gather(
            *(budget.take("t", "click", 10) for _ in range(5)), return_exceptions=True
        )

    assert all(isinstance(r, psycopg.OperationalError) for r in asyncio.run(scenario()))
    leases.fail = False
    assert asyncio.run(budget.take("t", "click", 10)) is True


# --- two workers' stores against the real lease ------------------------------------------------------


def test_two_workers_landing_clicks_of_one_tenant_stay_within_its_limit(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    limit, max_lease = 50, 8
    settings = get_settings().model_copy(update={"rate_limit_lease_max": max_lease})

    def click(i: int) -> dict:
        return {
            "tenant": uuid.UUID(tenant),
            "event_type": "click",
            "session_id": f"tai_lease{uuid.uuid4().hex[:10]}{i:03d}",
            "occurred_at": datetime.now(UTC),
            "landing_url": "https://shop.example/p",
            "client_ip": "203.0.113.7",
            "user_agent": "test",
        }

    async def scenario() -> list[tuple]:
        stores = [Store(db.with_user(pg_url, "trackai_app_rw"), settings) for _ in range(2)]
        for store in stores:
            await store.open()
        try:
            return await asyncio.gather(*(stores[i % 2].land_click(click(i), limit) for i in range(120)))
        finally:
            for store in stores:
                await store.close()

    results = asyncio.run(scenario())
    admitted = [cid for limited, cid in results if not limited]
    assert limit - 2 * max_lease <= len(admitted) <= limit
    landed = conn.execute("SELECT count(*) FROM landing.clicks WHERE tenant_id = %s", (tenant,)).fetchone()[0]
    assert landed == len(admitted)
