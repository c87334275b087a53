"""landing.rate_limit_take (sql/1500, kept for workers of the previous release during a rolling upgrade;
sql/1600 leases replace it): n hits at once in the caller's shard. One worker's batches share a
shard, so they count exactly even on different connections (the second waits for the first's commit and
sees it); two workers (two shards) never wait on each other, and one over-admits at most what the other
holds uncommitted."""

from __future__ import annotations

import threading
import time

TAKE = "SELECT landing.rate_limit_take(%s, 'click', 60, %s, %s)"


def test_takes_add_up_and_answer_the_total_after_them(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    assert a.execute(TAKE, (tenant, 3, 7)).fetchone()[0] == 3
    assert b.execute(TAKE, (tenant, 2, 7)).fetchone()[0] == 5  # same shard, other connection
    assert b.execute(TAKE, (tenant, 4, 9)).fetchone()[0] == 9  # another shard adds up too
    assert a.execute("SELECT landing.rate_limit_hit(%s, 'click', 60)", (tenant,)).fetchone()[0] == 10


def test_one_workers_batches_count_exactly_across_connections(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    seen: list[int] = []
    with a.transaction():
        assert a.execute(TAKE, (tenant, 5, 3)).fetchone()[0] == 5
        waiter = threading.Thread(target=lambda: seen.append(b.execute(TAKE, (tenant, 2, 3)).fetchone()[0]))
        waiter.start()
        time.sleep(0.3)
        assert seen == []  # same shard: waits for a's commit instead of missing its 5 hits
    waiter.join(timeout=10)
    assert seen == [7]


def test_two_workers_never_wait_and_overshoot_is_bounded(two_conns, make_tenant) -> None:
    tenant, _ = make_tenant()
    a, b = two_conns
    b.execute("SET lock_timeout = '500ms'")
    with a.transaction():
        assert a.execute(TAKE, (tenant, 5, 1)).fetchone()[0] == 5
        # another worker's shard: not blocked, and it does not see a's 5 uncommitted hits (the bound)
        assert b.execute(TAKE, (tenant, 1, 2)).fetchone()[0] == 1
    assert b.execute(TAKE, (tenant, 1, 2)).fetchone()[0] == 7
