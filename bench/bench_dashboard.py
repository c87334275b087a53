"""Dashboard-query latency: a tenant's last-7-days match rate and dispatch summary.

    .venv/bin/python bench/bench_dashboard.py --rows 1000000      # ~1 M ops.dispatch_attempts rows
    .venv/bin/python bench/bench_dashboard.py --rows 10000000     # 10 M (loading takes minutes)
    .venv/bin/python bench/bench_dashboard.py --smoke             # CI: 20 k rows, asserts the budget

Creates a throwaway database ``trackai_bench_<rows>`` on the configured server (TRACKAI_DATABASE_URL
or the embedded default), applies sql/, builds the dbt views the dashboard reads, bulk-loads synthetic
rows with generate_series, VACUUM ANALYZEs, then times both queries over random tenants and prints
p50/p95/max in ms as JSON. ``--keep`` keeps the database.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trackai import db, migrations
from trackai.settings import REPO_ROOT

MATCH_RATE_SQL = """SELECT metric_date, purchases, matched, match_rate_pct
FROM analytics.v_match_rate_by_tenant
WHERE tenant_id = %s AND metric_date >= current_date - 7 ORDER BY metric_date"""
DISPATCH_SUMMARY_SQL = """SELECT gateway, attempt_status, attempts, success_rate_pct, latency_p50_ms, latency_p95_ms
FROM analytics.v_dispatch_summary WHERE tenant_id = %s ORDER BY gateway, attempt_status"""


def load(conn: psycopg.Connection, rows: int, tenants: int, days: int) -> None:
    t0 = time.perf_counter()
    conn.execute(
        """INSERT INTO core.tenants (name, pixel_id)
           SELECT 'bench ' || i, (1000000000 + i)::text FROM generate_series(1, %s) AS i""",
        (tenants,),
    )
    conn.execute("CREATE TEMP TABLE bt AS SELECT row_number() OVER () - 1 AS n, tenant_id FROM core.tenants")
    conn.execute("CREATE INDEX ON bt (n)")
    purchases = max(rows // 10, 100)
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       amount, currency, first_conversion_id, last_conversion_id)
           SELECT bt.tenant_id, 'hotmart', 'o' || i, md5(i::text) || md5((i + 1)::text), 'approved', ts, ts::date,
                  97, 'BRL', i, i
           FROM (SELECT i, now() - random() * make_interval(days => %s) AS ts
                 FROM generate_series(1, %s::bigint) AS i) AS g
           JOIN bt ON bt.n = g.i %% %s""",
        (days, purchases, tenants),
    )
    conn.execute(
        """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys, partition_date)
           SELECT tenant_id, gateway, order_id, 1,
                  (ARRAY['deterministic', 'semi_deterministic', 'probabilistic'])[1 + (abs(hashtext(order_id)) % 3)],
                  0.9, ARRAY['fbc'], partition_date
           FROM core.purchases WHERE abs(hashtext(order_id)) % 10 < 7"""
    )
    batch = 1_000_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        conn.execute(
            """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status,
                                                  http_status, latency_ms, created_at)
               SELECT bt.tenant_id, md5(i::text) || md5(i::text), (ARRAY['hotmart', 'kiwify', 'stripe'])[1 + i %% 3],
                      '1000000001', 1,
                      CASE WHEN i %% 50 = 0 THEN 'retryable_error' WHEN i %% 97 = 0 THEN 'fatal_error' ELSE 'success' END,
                      200, (40 + random() * 400)::int, now() - random() * make_interval(days => %s)
               FROM generate_series(%s::bigint, %s::bigint) AS i JOIN bt ON bt.n = i %% %s""",
            (days, start + 1, start + n, tenants),
        )
        print(f"  loaded {start + n:,} dispatch_attempts", file=sys.stderr, flush=True)
    conn.execute("VACUUM ANALYZE ops.dispatch_attempts")
    conn.execute("VACUUM ANALYZE core.purchases")
    conn.execute("VACUUM ANALYZE core.matches")
    print(f"  load + vacuum: {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def timed(conn: psycopg.Connection, sql: str, tenant_ids: list[str], iterations: int) -> dict[str, float]:
    for tid in tenant_ids[:3]:
        conn.execute(sql, (tid,)).fetchall()  # warm-up
    samples = []
    for _ in range(iterations):
        tid = random.choice(tenant_ids)
        t0 = time.perf_counter()
        conn.execute(sql, (tid,)).fetchall()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "max_ms": round(samples[-1], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="ops.dispatch_attempts rows")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=30, help="spread of the synthetic data")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="20 k rows, 40 iterations, assert p95 < budget")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="p95 budget per query")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.tenants, args.iterations = 20_000, 20, 40

    from dagster_project.lib import dbt_runner

    admin = db.server_url()
    name = f"trackai_bench_{args.rows}"
    db.drop_database(admin, name)
    db.ensure_database(admin, name)
    url = db.with_database(
        admin if not db.get_settings().database_url else db.get_settings().database_url, name
    )
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        dbt_runner.run_dbt(
            ["run", "--select", "+v_match_rate_by_tenant", "+v_dispatch_summary"], url, capture=True
        )
        with psycopg.connect(url, autocommit=True) as conn:
            load(conn, args.rows, args.tenants, args.days)
            tenant_ids = [str(r[0]) for r in conn.execute("SELECT tenant_id FROM core.tenants").fetchall()]
            plan = "\n".join(
                r[0]
                for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + DISPATCH_SUMMARY_SQL, (tenant_ids[0],))
            )
            report = {
                "dispatch_attempts_rows": args.rows,
                "tenants": args.tenants,
                "days": args.days,
                "iterations": args.iterations,
                "match_rate_last_7_days": timed(conn, MATCH_RATE_SQL, tenant_ids, args.iterations),
                "dispatch_summary_last_7_days": timed(
                    conn, DISPATCH_SUMMARY_SQL, tenant_ids, args.iterations
                ),
            }
        print(json.dumps(report, indent=2))
        print(plan, file=sys.stderr)
        slow = [
            k
            for k in ("match_rate_last_7_days", "dispatch_summary_last_7_days")
            if report[k]["p95_ms"] > args.budget_ms
        ]
        if slow:
            print(f"over the {args.budget_ms} ms p95 budget: {slow}", file=sys.stderr)
            return 1
        return 0
    finally:
        if not args.keep:
            db.drop_database(admin, name)


if __name__ == "__main__":
    sys.exit(main())
