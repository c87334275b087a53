"""P7 seller console: page latency for a tenant with 1 M purchases, through HTTP, as the console's role.

    .venv/bin/python bench/bench_console.py              # full: a 1 M-purchase tenant beside a 200 k one
    .venv/bin/python bench/bench_console.py --smoke      # CI: 5 k purchases, a few seconds of timing

Creates a throwaway database ``trackai_bench_console_<hex>`` on the configured server (TRACKAI_DATABASE_URL
or the embedded default), applies sql/, loads two tenants with generate_series (the big one with
``--purchases``, the other a fifth of it), spread over ``--days`` days up to now: webhook deliveries and
conversions, purchases (90 % with an e-mail hash, 60 % a phone hash), matches for 70 % (three stages),
the event_id registry, the dispatch queue (98.5 % sent with a Meta payload, 0.5 % pending, 1 % in the DLQ)
and one CAPI attempt per event; VACUUM ANALYZE; builds the console's dbt marts (the stored daily metrics
over the whole history); then serves the console (uvicorn, loopback, role trackai_console, row-level
security on) and times every page with the big tenant's seller logged in: p50/p95/max over
``--iterations`` requests each. Baseline in the same run: the same pages for the small tenant (the
ratio shows whether a page follows the tenant's size) and /healthz (the HTTP stack alone).
Target: p95 <= 200 ms per page at 1 M purchases. Reported, never asserted; the exit status is non-zero
only when a page fails. Output: bench/_report.py (name ``p7_console``), with the EXPLAIN of the list
and metrics queries; ``--smoke`` writes under .trackai/bench-smoke/. ``--keep`` keeps the database.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Target, publish

from trackai import db, migrations, tenants
from trackai.settings import REPO_ROOT, Settings

TARGET_MS = 200.0
PASSWORD = "bench console password"
GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")


def progress(message: str) -> None:
    print(f"  [p7] {message}", file=sys.stderr, flush=True)


def load_tenant(conn: psycopg.Connection, tenant_id: str, start: int, purchases: int, days: int) -> None:
    """``purchases`` orders numbered from ``start``, newest last, with their whole pipeline state."""
    t0 = time.perf_counter()
    conn.execute("SET session_replication_role = replica")  # consistent by construction: skip FK triggers
    span = {"t": tenant_id, "lo": start + 1, "hi": start + purchases, "n": purchases, "days": days}
    conn.execute(
        """CREATE TEMP TABLE bench_orders ON COMMIT DROP AS
           SELECT i, (ARRAY['perfectpay','hotmart','kiwify','stripe'])[1 + i %% 4] AS gateway, 'o' || i AS order_id,
                  md5('e' || i) || md5('f' || i) AS event_id,
                  now() - make_interval(secs => (%(hi)s - i)::double precision / %(n)s * %(days)s * 86400) AS approved_at
           FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS i""",
        span,
    )
    conn.execute(
        """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, event_type, payload_redacted,
                                               payload_sha256, received_at)
           SELECT %(t)s, gateway, 'd' || i, 'approved', '{}'::jsonb, md5(order_id), approved_at FROM bench_orders""",
        span,
    )
    conn.execute(
        """INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, order_id, status, gateway_status,
                                            event_time, amount, currency)
           SELECT w.webhook_event_id, %(t)s, o.gateway, o.order_id, 'approved', 'paid', o.approved_at, 97, 'BRL'
             FROM bench_orders o JOIN landing.webhook_events w
               ON w.tenant_id = %(t)s AND w.gateway = o.gateway AND w.delivery_key = 'd' || o.i""",
        span,
    )
    progress(
        f"tenant {tenant_id[:8]}: {purchases:,} deliveries and conversions ({time.perf_counter() - t0:.0f} s)"
    )
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       amount, currency, email_hash, phone_hash, first_conversion_id, last_conversion_id)
           SELECT %(t)s, gateway, order_id, event_id, 'approved', approved_at, (approved_at AT TIME ZONE 'UTC')::date,
                  97, 'BRL', CASE WHEN i %% 10 <> 0 THEN md5('m' || i) || md5('n' || i) END,
                  CASE WHEN i %% 5 < 3 THEN md5('p' || i) || md5('q' || i) END, i, i
             FROM bench_orders""",
        span,
    )
    conn.execute(
        """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys, landing_url,
                                     partition_date)
           SELECT %(t)s, gateway, order_id, i,
                  (ARRAY['deterministic','semi_deterministic','probabilistic'])[1 + i %% 3], 0.9, ARRAY['session_id'],
                  'https://shop.example/lp', (approved_at AT TIME ZONE 'UTC')::date
             FROM bench_orders WHERE i %% 10 < 7""",
        span,
    )
    conn.execute(
        """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
           SELECT event_id, %(t)s, gateway, order_id, 'Purchase' FROM bench_orders""",
        span,
    )
    progress(f"tenant {tenant_id[:8]}: purchases, matches, registry ({time.perf_counter() - t0:.0f} s)")
    conn.execute(
        """INSERT INTO ops.dispatch_queue (event_id, tenant_id, gateway, pixel_id, event_time, payload, status, attempts,
                                          next_attempt_at, deadline_at, sent_at)
           SELECT event_id, %(t)s, gateway, '1000000001', approved_at,
                  jsonb_build_object('event_name', 'Purchase', 'event_id', event_id, 'user_data',
                      jsonb_strip_nulls(jsonb_build_object(
                          'em', CASE WHEN i %% 10 <> 0 THEN jsonb_build_array(md5('m' || i)) END,
                          'ph', CASE WHEN i %% 5 < 3 THEN jsonb_build_array(md5('p' || i)) END,
                          'external_id', jsonb_build_array(md5('x' || i)),
                          'fbc', CASE WHEN i %% 10 < 5 THEN 'fb.1.1700000000000.IwAR' || i END,
                          'fbp', CASE WHEN i %% 10 < 7 THEN 'fb.1.1700000000000.' || i END,
                          'client_ip_address', CASE WHEN i %% 10 < 7 THEN '200.1.2.3' END,
                          'client_user_agent', CASE WHEN i %% 10 < 7 THEN 'Mozilla/5.0' END)),
                      'custom_data', jsonb_build_object('value', 97, 'currency', 'BRL')),
                  CASE WHEN i %% 200 = 0 THEN 'pending' WHEN i %% 100 = 1 THEN 'dlq' ELSE 'sent' END,
                  CASE WHEN i %% 200 = 0 THEN i %% 2 ELSE 1 END,
                  approved_at + interval '1 minute', approved_at + interval '7 days',
                  CASE WHEN i %% 200 <> 0 AND i %% 100 <> 1 THEN approved_at + interval '1 minute' END
             FROM bench_orders""",
        span,
    )
    conn.execute(
        """INSERT INTO ops.dlq (event_id, tenant_id, gateway, reason, error_code, error_subcode, error_title,
                                error_message, payload, created_at)
           SELECT event_id, %(t)s, gateway, (ARRAY['meta_rejected','invalid','expired','token'])[1 + i %% 4], 100,
                  2804048, 'Event Rejected', 'bench', '{}'::jsonb, approved_at + interval '2 minutes'
             FROM bench_orders WHERE i %% 100 = 1""",
        span,
    )
    conn.execute(
        """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status, http_status,
                                              latency_ms, fbtrace_id, created_at)
           SELECT %(t)s, event_id, gateway, '1000000001', 1,
                  CASE WHEN i %% 100 = 1 THEN 'fatal_error' ELSE 'success' END,
                  CASE WHEN i %% 100 = 1 THEN 400 ELSE 200 END, 120, 'Bench' || i, approved_at + interval '1 minute'
             FROM bench_orders WHERE i %% 200 <> 0""",
        span,
    )
    conn.execute("SET session_replication_role = DEFAULT")
    progress(f"tenant {tenant_id[:8]}: queue, DLQ, attempts ({time.perf_counter() - t0:.0f} s)")


class Server:
    def __init__(self, url: str) -> None:
        import socket

        import uvicorn

        from console.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        settings = Settings(console={"public_url": self.base, "pool_size": 4})
        app = create_app(settings, database_url=db.with_user(url, "trackai_console"))
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def logged_in(base: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text[:300]
    return client


def pages_for(conn: psycopg.Connection, tenant_id: str) -> dict[str, str]:
    """The URLs timed for a tenant (ids read from its data: a purchase in the middle, a DLQ entry, a buyer)."""
    middle = conn.execute(
        """SELECT gateway, order_id, partition_date, first_conversion_id, email_hash FROM core.purchases
            WHERE tenant_id = %s ORDER BY first_conversion_id OFFSET (SELECT count(*) / 2 FROM core.purchases
            WHERE tenant_id = %s) LIMIT 1""",
        (tenant_id, tenant_id),
    ).fetchone()
    gateway, order_id, day, arrival, email_hash = middle
    return {
        "overview, today": "/?window=1",
        "overview, 7 days": "/?window=7",
        "overview, 30 days": "/?window=30",
        "overview live refresh (30 d)": "/overview/live?window=30",
        "purchases, first page": "/purchases",
        "purchases, page in the middle (keyset)": f"/purchases?after={day.isoformat()}|{arrival}",
        "purchases, in the DLQ": "/purchases?state=dlq",
        "purchases, pending": "/purchases?state=pending",
        "purchases, kiwify unmatched": "/purchases?gateway=kiwify&match=unmatched",
        "purchases, last 7 days": f"/purchases?from={day.isoformat()}",
        "search by buyer e-mail (hash)": f"/purchases?email={email_hash}",
        "search by order id": f"/purchases?order={order_id}",
        "purchase journey": f"/purchases/{gateway}/{order_id}",
        "failures (DLQ)": "/failures",
        "match quality (7 days)": "/quality",
        "setup": "/setup",
    }


def time_pages(client: httpx.Client, pages: dict[str, str], iterations: int) -> dict[str, dict]:
    out = {}
    for label, path in pages.items():
        for _ in range(3):  # warm-up
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {response.status_code} for {path}")
        samples = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{label}: HTTP {response.status_code}")
        samples.sort()
        out[label] = {
            "path": path,
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
            "max_ms": round(samples[-1], 1),
        }
        progress(f"{label}: p95 {out[label]['p95_ms']} ms")
    return out


def explain(url: str, tenant_id: str) -> dict[str, str]:
    """EXPLAIN ANALYZE of the SQL the purchases page and the overview's live day send (console.queries)."""
    from console import queries

    cases = {
        "purchases list": queries.PurchaseFilters(),
        "purchases in the DLQ": queries.PurchaseFilters(state="dlq"),
        "purchases kiwify unmatched": queries.PurchaseFilters(gateway="kiwify", match="unmatched"),
    }
    plans = {}
    with psycopg.connect(db.with_user(url, "trackai_console")) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
        for label, filters in cases.items():
            sql, params, _ = queries.purchases_query(tenant_id, filters, None, 50)
            plans[label] = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params))
        live = "SELECT * FROM analytics.console_daily_metrics_today WHERE tenant_id = %s"
        plans["live day (today)"] = "\n".join(
            r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + live, (tenant_id,))
        )
    return plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=1_000_000, help="purchases of the big tenant")
    parser.add_argument("--days", type=int, default=365, help="history spread (up to now)")
    parser.add_argument("--iterations", type=int, default=100, help="requests per page")
    parser.add_argument("--smoke", action="store_true", help="5 k purchases, 15 requests per page (CI)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args(argv)
    if args.smoke:
        args.purchases, args.iterations, args.days = 5_000, 15, 60

    from dagster_project.lib import dbt_runner
    from trackai.console_data import users

    started = time.perf_counter()
    admin = db.server_url()
    name = f"trackai_bench_console_{secrets.token_hex(2)}"
    db.ensure_database(admin, name)
    base_url = db.get_settings().database_url or admin
    url = db.with_database(base_url, name)
    small_n = max(args.purchases // 5, 1000)
    failures: list[str] = []
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        with psycopg.connect(url, autocommit=True) as conn:
            big, _ = tenants.create_tenant_with_every_gateway(conn, "Bench big", pixel_id="100000000000011")
            small, _ = tenants.create_tenant_with_every_gateway(
                conn, "Bench small", pixel_id="100000000000012"
            )
            for tenant_id, email in ((big, "big@bench.example"), (small, "small@bench.example")):
                users.create_user(conn, email=email, tenant_id=tenant_id, password=PASSWORD)
        with psycopg.connect(url) as conn:  # one transaction per tenant (temp table ON COMMIT DROP)
            load_tenant(conn, big, 0, args.purchases, args.days)
            conn.commit()
            load_tenant(conn, small, args.purchases, small_n, args.days)
            conn.commit()
        with psycopg.connect(url, autocommit=True) as conn:
            for table in (
                "landing.webhook_events",
                "landing.conversions",
                "core.purchases",
                "core.matches",
                "core.dedupe_registry",
                "ops.dispatch_queue",
                "ops.dlq",
                "ops.dispatch_attempts",
            ):
                conn.execute(f"VACUUM ANALYZE {table}")
        progress(f"loaded and analyzed in {time.perf_counter() - started:.0f} s; building the console marts")
        t0 = time.perf_counter()
        history = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (args.days + 1) * 86400))
        dbt_runner.build(
            url, select="path:models/marts/console", variables={"history_start_date": history}, capture=True
        )
        dbt_s = time.perf_counter() - t0
        progress(f"dbt build of the console marts: {dbt_s:.0f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE analytics.console_daily_metrics")
            big_pages, small_pages = pages_for(conn, big), pages_for(conn, small)
        with Server(url) as server:
            with httpx.Client(base_url=server.base, timeout=30) as anonymous:
                health = time_pages(anonymous, {"/healthz (no database)": "/healthz"}, args.iterations)
            results = {}
            for email, pages in (("small@bench.example", small_pages), ("big@bench.example", big_pages)):
                client = logged_in(server.base, email)
                try:
                    results[email] = time_pages(client, pages, args.iterations)
                finally:
                    client.close()
            small_results, big_results = results["small@bench.example"], results["big@bench.example"]
        plans = explain(url, big)
    except RuntimeError as exc:
        failures.append(str(exc))
        raise
    finally:
        if not args.keep:
            db.drop_database(admin, name)

    columns = [
        "page",
        f"p50 ms ({args.purchases:,})",
        f"p95 ms ({args.purchases:,})",
        "max ms",
        f"p95 ms ({small_n:,})",
        "p95 x small tenant",
    ]
    rows = [
        [
            label,
            r["p50_ms"],
            r["p95_ms"],
            r["max_ms"],
            small_results[label]["p95_ms"],
            round(r["p95_ms"] / small_results[label]["p95_ms"], 2) if small_results[label]["p95_ms"] else "",
        ]
        for label, r in big_results.items()
    ]
    rows.append(
        [
            "/healthz (no database)",
            health["/healthz (no database)"]["p50_ms"],
            health["/healthz (no database)"]["p95_ms"],
            health["/healthz (no database)"]["max_ms"],
            "",
            "",
        ]
    )
    worst = max(big_results.items(), key=lambda kv: kv[1]["p95_ms"])
    targets = [
        Target(
            f"slowest page p95 ({worst[0]}) at {args.purchases:,} purchases",
            worst[1]["p95_ms"],
            TARGET_MS,
            "ms",
        )
    ]

    def plot(ax) -> None:
        labels = list(big_results)
        ys = range(len(labels))
        ax.barh(
            [y + 0.2 for y in ys],
            [big_results[x]["p95_ms"] for x in labels],
            height=0.4,
            label=f"{args.purchases:,} purchases",
        )
        ax.barh(
            [y - 0.2 for y in ys],
            [small_results[x]["p95_ms"] for x in labels],
            height=0.4,
            label=f"{small_n:,} purchases",
        )
        ax.set_yticks(list(ys), labels, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(TARGET_MS, color="#d62728", linestyle="--", linewidth=1, label=f"target {TARGET_MS:g} ms")
        ax.set_xlabel("p95 ms per page (HTTP, logged in, row-level security on)")
        ax.legend(fontsize=7)

    publish(
        "p7_console",
        title=f"P7 seller console: page p95 for a tenant with {args.purchases:,} purchases",
        columns=columns,
        rows=rows,
        targets=targets,
        smoke=args.smoke,
        plot=plot,
        details={
            "purchases": args.purchases,
            "small_tenant_purchases": small_n,
            "days": args.days,
            "iterations": args.iterations,
            "dbt_build_s": round(dbt_s, 1),
            "total_s": round(time.perf_counter() - started, 1),
            "big": big_results,
            "small": small_results,
            "plans": plans,
        },
    )
    print(f"  full run: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
