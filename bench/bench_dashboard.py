"""Dashboard-query latency: a tenant's last-7-days match rate and dispatch summary, at 1 M and 10 M rows.

    .venv/bin/python bench/bench_dashboard.py                     # full: 1 M then 10 M dispatch rows
    .venv/bin/python bench/bench_dashboard.py --rows 1000000      # one size
    .venv/bin/python bench/bench_dashboard.py --smoke             # CI: 20 k rows, a few seconds

Creates a throwaway database ``trackai_bench_dashboard_<hex>`` on the configured server
(TRACKAI_DATABASE_URL or the embedded default), applies sql/, builds the dbt views the dashboard reads,
then for each ``--rows`` size (ascending) grows the same data set to that many ops.dispatch_attempts rows
(plus rows/10 core.purchases, 70 % of them matched) with generate_series, secondary indexes dropped during
the load and rebuilt after, VACUUM ANALYZEs, and times both queries as the dashboard sends them
(``WHERE tenant_id = $1`` on the view, last 7 days) over random tenants: p50/p95/max in ms.

The baseline is the smallest size, measured in the same invocation: the ratio largest/smallest p95 shows
whether a query's cost follows one tenant's window (flat) or the table (x10). Output (bench/_report.py,
name ``p5_dashboard``): the table, the targets (p95 <= 50 ms at the largest size),
docs/benchmarks/p5_dashboard.json (with the EXPLAIN ANALYZE of both queries at each size) and .png;
``--smoke`` writes under .trackai/bench-smoke/. Timings are reported, never asserted: the exit status is
non-zero only when a query fails or returns nothing. ``--keep`` keeps the database.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Target, publish

from trackai import db, migrations
from trackai.settings import REPO_ROOT

QUERIES = {
    "match rate (v_match_rate_by_tenant)": """SELECT metric_date, purchases, matched, match_rate_pct
FROM analytics.v_match_rate_by_tenant
WHERE tenant_id = %s AND metric_date >= current_date - 7 ORDER BY metric_date""",
    "dispatch summary (v_dispatch_summary)": """SELECT gateway, attempt_status, attempts, success_rate_pct,
       latency_p50_ms, latency_p95_ms
FROM analytics.v_dispatch_summary WHERE tenant_id = %s ORDER BY gateway, attempt_status""",
}
TARGET_MS = 50.0
LOAD_BATCH = 1_000_000
# Tables grown by the load: their secondary (non-constraint) indexes are dropped while loading.
LOADED_TABLES = ("ops.dispatch_attempts", "core.purchases", "core.matches")


def progress(message: str) -> None:
    print(f"  [p5] {message}", file=sys.stderr, flush=True)


def _secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(schema, name, definition) of the loaded tables' indexes that back no constraint."""
    return conn.execute(
        """SELECT n.nspname, i.relname, pg_get_indexdef(i.oid)
           FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_namespace n ON n.oid = i.relnamespace
           WHERE x.indrelid = ANY(%s::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
           ORDER BY i.relname""",
        (list(LOADED_TABLES),),
    ).fetchall()


def create_tenants(conn: psycopg.Connection, tenants: int) -> None:
    conn.execute(
        """INSERT INTO core.tenants (name, pixel_id)
           SELECT 'bench ' || i, (1000000000 + i)::text FROM generate_series(1, %s) AS i""",
        (tenants,),
    )
    conn.execute(
        """CREATE TABLE public.bench_tenants AS
           SELECT (row_number() OVER (ORDER BY tenant_id) - 1)::bigint AS n, tenant_id FROM core.tenants"""
    )
    conn.execute("CREATE UNIQUE INDEX ON public.bench_tenants (n)")


def grow(conn: psycopg.Connection, have: int, rows: int, tenants: int, days: int) -> float:
    """Grow the data set from ``have`` to ``rows`` dispatch attempts (purchases and matches in proportion)."""
    t0 = time.perf_counter()
    indexes = _secondary_indexes(conn)
    for schema, name, _ in indexes:
        conn.execute(f"DROP INDEX {schema}.{name}")
    p_from, p_to = max(have // 10, 100) if have else 0, max(rows // 10, 100)
    # Synthetic rows are consistent by construction: skip the per-row FK triggers during the bulk load.
    conn.execute("SET session_replication_role = replica")
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       amount, currency, first_conversion_id, last_conversion_id)
           SELECT bt.tenant_id, 'hotmart', 'o' || i, md5(i::text) || md5((i + 1)::text), 'approved', ts,
                  (ts AT TIME ZONE 'UTC')::date, 97, 'BRL', i, i
           FROM (SELECT i, now() - random() * make_interval(days => %s) AS ts
                 FROM generate_series(%s::bigint + 1, %s::bigint) AS i) AS g
           JOIN public.bench_tenants bt ON bt.n = g.i %% %s""",
        (days, p_from, p_to, tenants),
    )
    conn.execute(
        """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys,
                                     partition_date)
           SELECT tenant_id, gateway, order_id, 1,
                  (ARRAY['deterministic', 'semi_deterministic', 'probabilistic'])[1 + (abs(hashtext(order_id)) %% 3)],
                  0.9, ARRAY['fbc'], partition_date
           FROM core.purchases
           WHERE first_conversion_id > %s AND abs(hashtext(order_id)) %% 10 < 7""",
        (p_from,),
    )
    progress(f"purchases {p_to:,} (+{p_to - p_from:,}) and their matches ({time.perf_counter() - t0:.0f} s)")
    for start in range(have, rows, LOAD_BATCH):
        n = min(LOAD_BATCH, rows - start)
        conn.execute(
            """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status,
                                                  http_status, latency_ms, created_at)
               SELECT bt.tenant_id, md5(i::text) || md5(i::text), (ARRAY['hotmart', 'kiwify', 'stripe'])[1 + i %% 3],
                      '1000000001', 1,
                      CASE WHEN i %% 50 = 0 THEN 'retryable_error' WHEN i %% 97 = 0 THEN 'fatal_error' ELSE 'success' END,
                      200, (40 + random() * 400)::int, now() - random() * make_interval(days => %s)
               FROM generate_series(%s::bigint, %s::bigint) AS i JOIN public.bench_tenants bt ON bt.n = i %% %s""",
            (days, start + 1, start + n, tenants),
        )
        progress(
            f"dispatch_attempts {start + n:,}/{rows:,} "
            f"({100 * (start + n - have) / (rows - have):.0f} %, {time.perf_counter() - t0:.0f} s)"
        )
    conn.execute("SET session_replication_role = DEFAULT")
    conn.execute("SET maintenance_work_mem = '1GB'")
    for k, (_, name, definition) in enumerate(indexes, start=1):
        conn.execute(definition)
        progress(f"index {k}/{len(indexes)} {name} ({time.perf_counter() - t0:.0f} s)")
    for table in LOADED_TABLES:
        conn.execute(f"VACUUM ANALYZE {table}")
    progress(f"vacuum analyze done: {rows:,} rows in {time.perf_counter() - t0:.0f} s")
    return time.perf_counter() - t0


def timed(conn: psycopg.Connection, sql: str, tenant_ids: list[str], iterations: int) -> dict:
    rows = 0
    for tid in tenant_ids[:3]:
        rows += len(conn.execute(sql, (tid,)).fetchall())  # warm-up
    samples = []
    for _ in range(iterations):
        tid = random.choice(tenant_ids)
        t0 = time.perf_counter()
        rows += len(conn.execute(sql, (tid,)).fetchall())
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "max_ms": round(samples[-1], 2),
        "rows_returned": rows,
    }


def measure(conn: psycopg.Connection, tenant_ids: list[str], iterations: int) -> dict:
    out = {}
    for label, sql in QUERIES.items():
        out[label] = timed(conn, sql, tenant_ids, iterations)
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, (tenant_ids[0],)).fetchall()
        out[label]["plan"] = "\n".join(r[0] for r in plan)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        help="ops.dispatch_attempts rows (repeatable, ascending; default 1 M and 10 M)",
    )
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--days", type=int, default=30, help="spread of the synthetic data")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="20 k rows, 20 tenants, 40 iterations (CI)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.rows or [1_000_000, 10_000_000]))
    if args.smoke:
        sizes, args.tenants, args.iterations = [20_000], 20, 40

    from dagster_project.lib import dbt_runner

    started = time.perf_counter()
    admin = db.server_url()
    name = f"trackai_bench_dashboard_{secrets.token_hex(2)}"
    db.ensure_database(admin, name)
    url = db.with_database(
        admin if not db.get_settings().database_url else db.get_settings().database_url, name
    )
    results: list[dict] = []
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        dbt_runner.run_dbt(
            ["run", "--select", "+v_match_rate_by_tenant", "+v_dispatch_summary"], url, capture=True
        )
        with psycopg.connect(url, autocommit=True) as conn:
            create_tenants(conn, args.tenants)
            tenant_ids = [str(r[0]) for r in conn.execute("SELECT tenant_id FROM core.tenants").fetchall()]
            have = 0
            for rows in sizes:
                load_s = grow(conn, have, rows, args.tenants, args.days)
                have = rows
                progress(f"timing {args.iterations} x 2 queries at {rows:,} rows")
                results.append(
                    {
                        "rows": rows,
                        "load_s": round(load_s, 1),
                        "queries": measure(conn, tenant_ids, args.iterations),
                    }
                )
    finally:
        if not args.keep:
            db.drop_database(admin, name)

    baseline = results[0]
    columns = ["query", "dispatch rows", "purchases", "p50 ms", "p95 ms", "max ms", "p95 x baseline"]
    table, targets = [], []
    for r in results:
        for label, q in r["queries"].items():
            base = baseline["queries"][label]["p95_ms"]
            table.append(
                [
                    label,
                    r["rows"],
                    max(r["rows"] // 10, 100),
                    q["p50_ms"],
                    q["p95_ms"],
                    q["max_ms"],
                    round(q["p95_ms"] / base, 2) if base else "",
                ]
            )
    largest = results[-1]
    for label, q in largest["queries"].items():
        targets.append(Target(f"{label} p95 at {largest['rows']:,} rows", q["p95_ms"], TARGET_MS, "ms"))

    def plot(ax) -> None:
        labels = list(QUERIES)
        width = 0.8 / len(results)
        for k, r in enumerate(results):
            xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(labels))]
            values = [r["queries"][label]["p95_ms"] for label in labels]
            ax.bar(xs, values, width=width, label=f"{r['rows']:,} dispatch rows")
            for x, v in zip(xs, values, strict=True):
                ax.annotate(f"{v:.1f}", (x, v), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(labels)), [label.split(" (")[0] for label in labels])
        ax.axhline(TARGET_MS, color="#d62728", linestyle="--", linewidth=1, label=f"target {TARGET_MS:g} ms")
        ax.set_ylabel("p95 ms (one tenant, last 7 days)")
        ax.legend(fontsize=8)

    publish(
        "p5_dashboard",
        title="P5 dashboard queries: p95 latency, one tenant x last 7 days",
        columns=columns,
        rows=table,
        targets=targets,
        smoke=args.smoke,
        plot=plot,
        details={
            "tenants": args.tenants,
            "days": args.days,
            "iterations": args.iterations,
            "baseline": f"{baseline['rows']:,} dispatch rows (same invocation)",
            "results": results,
        },
    )
    print(f"  full run: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    empty = [
        f"{label} at {r['rows']:,} rows returned nothing"
        for r in results
        for label, q in r["queries"].items()
        if not q["rows_returned"]
    ]
    for error in empty:
        print(f"functional failure: {error}", file=sys.stderr)
    return 1 if empty else 0


if __name__ == "__main__":
    sys.exit(main())
