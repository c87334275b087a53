"""The per-tenant limit without a hot row (sql/0900; kept for workers of the previous release during a rolling
upgrade, sql/1600 leases replace it): connections count in their own shard, nobody waits on
another transaction's counter, and the over-admission is bounded by what other transactions still hold."""

from __future__ import annotations

import psycopg
import pytest

from trackai import db

HIT = "SELECT landing.rate_limit_hit(%s, 'webhook', 60)"


def _app_conns(pg_url: str, n: int) -> list[psycopg.Connection]:
    """``n`` app-role connections whose backend pids fall in distinct shards (pid modulo 64)."""
    conns: list[psycopg.Connection] = []
    shards: set[int] = set()
    while len(conns) < n:
        conn = psycopg.connect(db.with_user(pg_url, "trackai_app_rw"), autocommit=True)
        shard = conn.info.backend_pid % 64
        if shard in shards:
            conn.close()
            continue
        shards.add(shard)
        conns.append(conn)
    return conns


@pytest.fixture
def two_conns(pg_url: str):
    conns = _app_conns(pg_url, 2)
    yield conns
    for c in conns:
        c.close()


def test_hits_from_every_connection_add_up(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    seen = [c.execute(HIT, (tenant,)).fetchone()[0] for c in (a, b, a, b, b)]
    assert seen == [1, 2, 3, 4, 5]


def test_an_open_transaction_does_not_block_the_tenant_and_overshoot_is_bounded(
    two_conns, make_tenant
) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    a.execute(HIT, (tenant,))  # committed: 1
    b.execute("SET lock_timeout = '500ms'")  # the old single row would wait for a's commit and fail here
    with a.transaction():
        held = [a.execute(HIT, (tenant,)).fetchone()[0] for _ in range(5)]
        assert held == [2, 3, 4, 5, 6]
        # b neither waits nor sees a's uncommitted hits: it is admitted past them (at most 5 = the rows a holds)
        assert b.execute(HIT, (tenant,)).fetchone()[0] == 2
    assert b.execute(HIT, (tenant,)).fetchone()[0] == 8  # once a commits, every hit counts again


def test_scopes_and_tenants_count_apart(two_conns, make_tenant) -> None:
    t1, _ = make_tenant()
    t2, _ = make_tenant("Other Seller")
    a, b = two_conns
    a.execute(HIT, (t1,))
    b.execute(HIT, (t1,))
    assert a.execute(HIT, (t2,)).fetchone()[0] == 1
    assert b.execute("SELECT landing.rate_limit_hit(%s, 'click', 60)", (t1,)).fetchone()[0] == 1
