"""Time one micro-batch of purchases against landing.clicks of 1 M / 10 M rows loaded with COPY.

Usage:
    .venv/bin/python bench/bench_matching.py                         # full: 1 M and 10 M clicks + the ratio
    .venv/bin/python bench/bench_matching.py --clicks 1000000        # one size
    .venv/bin/python bench/bench_matching.py --smoke                 # tiny, for CI (seconds)

Each size gets its own throwaway database on the configured server (TRACKAI_DATABASE_URL's server, else the
embedded Postgres), migrated with sql/. Clicks are generated with Polars (10 tenants, 30 days, newest last)
and streamed with COPY ... FROM STDIN (FORMAT csv) over two connections, with the click indexes dropped
during the load and rebuilt after (progress lines on stderr). Then --purchases approved conversions (+ their
webhook_events rows) are landed with COPY: 35 % carry the session id of a recent click, 10 % an email seen
by a lead, 20 % the click's fbclid, 20 % the same IP and user agent, 15 % nothing. The timed unit is
``trackai.pipeline.batch.run_batch`` in incremental mode: fold purchases, three matching stages with
indexed lookups, writes, dedupe and the watermark, in one transaction. It runs ``--repeat`` times per size,
the sizes interleaved (core tables reset in between); the report gives every run and the best, and with two
sizes the ratio largest/smallest (the smallest size is the baseline, measured in the same invocation).
Targets: <= 2 s per micro-batch at the largest size and ratio <= 1.3.

Output (bench/_report.py, name ``p2_matching``): a table per size with the stage timings of the best run,
docs/benchmarks/p2_matching.json and .png (``--smoke`` writes under .trackai/bench-smoke/). Timings are
reported, never asserted: the exit status is non-zero only on a functional error (purchases not all
processed; in smoke also: nothing matched).
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Target, publish  # noqa: E402

from trackai import db, migrations  # noqa: E402
from trackai.pipeline import batch  # noqa: E402

UAS = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; SM-A515F) AppleWebKit/537.36 SamsungBrowser/24.0 Chrome/117.0 Mobile Safari/537.36",
]
N_TENANTS = 10
DAYS = 30
CHUNK = 1_000_000
COPY_CONNECTIONS = 2


def progress(message: str) -> None:
    """Progress of the long loads: one line on stderr (stdout carries the report)."""
    print(f"  [p2] {message}", file=sys.stderr, flush=True)


def _tenants(conn: psycopg.Connection) -> list[str]:
    ids = []
    for i in range(N_TENANTS):
        row = conn.execute(
            "INSERT INTO core.tenants (name, pixel_id) VALUES (%s, %s) RETURNING tenant_id::text",
            (f"bench-{i}", "1234567890"),
        ).fetchone()
        ids.append(row[0])
    return ids


def _click_chunk(start: int, n: int, total: int, now: datetime, tenants: list[str], rng) -> pl.DataFrame:
    idx = np.arange(start, start + n, dtype=np.int64)
    # occurred_at increases with the row number: the newest clicks are the last ones loaded.
    age_s = ((total - idx) / total * DAYS * 86400).astype(np.int64) + rng.integers(0, 60, n)
    occurred = pl.Series(now.timestamp() - age_s).cast(pl.Float64)
    ip = rng.integers(0, 2**24, n)
    has_fbclid = rng.random(n) < 0.5
    frame = pl.DataFrame(
        {
            "i": idx,
            "tenant": pl.Series(np.array(tenants)[idx % len(tenants)]),
            "ts": occurred,
            "ip": ip,
            "ua": pl.Series(np.array(UAS)[rng.integers(0, len(UAS), n)]),
            "has_fbclid": has_fbclid,
        }
    )
    ms = (pl.col("ts") * 1000).cast(pl.Int64).cast(pl.String)
    fbclid = pl.when(pl.col("has_fbclid")).then(pl.lit("IwAR") + pl.col("i").cast(pl.String) + pl.lit("xYz"))
    return frame.select(
        pl.col("tenant").alias("tenant_id"),
        pl.lit("click").alias("event_type"),
        # the snippet's shape (trackai.core.session_id): only such ids join at the deterministic stage
        (pl.lit("tai_") + pl.col("i").cast(pl.String).str.zfill(22)).alias("session_id"),
        pl.from_epoch(pl.col("ts").cast(pl.Int64), time_unit="s")
        .dt.replace_time_zone("UTC")
        .alias("occurred_at"),
        pl.lit("https://shop.example/lp?utm_campaign=bench").alias("landing_url"),
        fbclid.alias("fbclid"),
        pl.when(pl.col("has_fbclid")).then(pl.lit("fb.1.") + ms + pl.lit(".") + fbclid).alias("fbc"),
        (pl.lit("fb.1.") + ms + pl.lit(".") + pl.col("i").cast(pl.String)).alias("fbp"),
        pl.format(
            "10.{}.{}.{}",
            (pl.col("ip") // 65536) % 256,
            (pl.col("ip") // 256) % 256,
            pl.col("ip") % 256,
        ).alias("client_ip"),
        pl.col("ua").alias("user_agent"),
        (pl.lit("s") + pl.col("i").cast(pl.String)).alias("external_id"),
    )


CLICK_COPY_COLUMNS = [
    "tenant_id",
    "event_type",
    "session_id",
    "occurred_at",
    "landing_url",
    "fbclid",
    "fbc",
    "fbp",
    "client_ip",
    "user_agent",
    "external_id",
]


def _copy_csv(conn: psycopg.Connection, table: str, columns: list[str], frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.select(columns).write_csv(buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z")
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        view = buf.getbuffer()
        for offset in range(0, len(view), 8 << 20):
            copy.write(view[offset : offset + (8 << 20)])


def load_clicks(
    conn: psycopg.Connection, url: str, total: int, tenants: list[str], now: datetime, seed: int
) -> float:
    """COPY ``total`` clicks over COPY_CONNECTIONS connections (the server parses and inserts each COPY on
    one core: two streams use both), with the secondary indexes dropped during the load and rebuilt after."""
    t0 = time.perf_counter()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'landing' AND tablename = 'clicks' "
        "AND indexname <> 'clicks_pkey'"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX landing.{name}")
    lock, loaded = threading.Lock(), [0]

    def copy_chunks(starts: list[int]) -> None:
        with psycopg.connect(url, autocommit=True) as stream:
            for start in starts:
                n = min(CHUNK, total - start)
                rng = np.random.default_rng([seed, start])  # deterministic whatever the thread
                _copy_csv(
                    stream,
                    "landing.clicks",
                    CLICK_COPY_COLUMNS,
                    _click_chunk(start, n, total, now, tenants, rng),
                )
                with lock:
                    loaded[0] += n
                    elapsed = time.perf_counter() - t0
                    progress(
                        f"COPY clicks {loaded[0]:,}/{total:,} ({100 * loaded[0] / total:.0f} %, {elapsed:.0f} s)"
                    )

    starts = list(range(0, total, CHUNK))
    streams = [starts[i::COPY_CONNECTIONS] for i in range(min(COPY_CONNECTIONS, len(starts)))]
    with ThreadPoolExecutor(max_workers=len(streams)) as pool:
        list(pool.map(copy_chunks, streams))  # re-raises a failed stream's exception
    conn.execute("SET maintenance_work_mem = '1GB'")
    for k, (name, definition) in enumerate(indexes, start=1):
        # landing.clicks is partitioned by day (sql/0701): pg_indexes gives the parent's definition as
        # "ON ONLY", which would build no index on the partitions; without ONLY it recurses into them.
        conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        progress(f"index {k}/{len(indexes)} {name} ({time.perf_counter() - t0:.0f} s)")
    conn.execute("ANALYZE landing.clicks")
    return time.perf_counter() - t0


def land_purchases(
    conn: psycopg.Connection, n: int, total_clicks: int, tenants: list[str], now: datetime, rng
) -> dict:
    """Approved conversions for recent clicks (last ~2 days of the click table) + webhook_events rows."""
    recent = max(1, int(total_clicks * 2 / DAYS))
    picks = [
        int(p) for p in rng.choice(np.arange(total_clicks - recent, total_clicks), size=n, replace=False)
    ]
    # Row i of the generated table is tenant i % N, session f"tai_{i:022d}" (click_id depends on the COPY
    # streams' order).
    rows = conn.execute(
        """SELECT c.click_id, c.tenant_id::text, c.session_id, c.occurred_at, c.fbclid, host(c.client_ip),
                  c.user_agent
           FROM unnest(%s::uuid[], %s::text[]) AS k(tenant_id, session_id)
           JOIN landing.clicks c ON c.tenant_id = k.tenant_id AND c.session_id = k.session_id""",
        ([tenants[i % len(tenants)] for i in picks], [f"tai_{i:022d}" for i in picks]),
    ).fetchall()
    kinds = rng.random(len(rows))
    conv, idents, expected = [], [], {"session": 0, "email": 0, "fbclid": 0, "ip": 0, "none": 0}
    for k, (click_id, tenant, session, occurred, fbclid, ip, ua) in enumerate(rows):
        occurred = occurred.astimezone(UTC)
        at = min(occurred + timedelta(minutes=int(rng.integers(1, 180))), now)
        rec = {
            "tenant_id": tenant,
            "order_id": f"bench-{click_id}",
            "event_time": at,
            "session_id": None,
            "tracking": "{}",
            "fbclid": None,
            "client_ip": None,
            "user_agent": None,
            "email_hash": None,
        }
        if kinds[k] < 0.35:
            rec["session_id"], rec["tracking"], kind = session, json.dumps({"src": session}), "session"
        elif kinds[k] < 0.45:
            h = f"{click_id:064x}"
            idents.append({"tenant_id": tenant, "session_id": session, "email_hash": h, "seen_at": occurred})
            rec["email_hash"], kind = h, "email"
        elif kinds[k] < 0.65 and fbclid:
            rec["fbclid"], kind = fbclid, "fbclid"
        elif kinds[k] < 0.85:
            rec["client_ip"], rec["user_agent"], kind = ip, ua, "ip"
        else:
            kind = "none"
        expected[kind] += 1
        conv.append(rec)
    frame = pl.DataFrame(conv, infer_schema_length=None).with_row_index("n", offset=1)
    we = frame.select(
        "tenant_id",
        pl.lit("kiwify").alias("gateway"),
        pl.col("order_id").alias("delivery_key"),
        pl.lit("approved").alias("event_type"),
        pl.lit("{}").alias("payload_redacted"),
        pl.lit("0" * 64).alias("payload_sha256"),
    )
    _copy_csv(conn, "landing.webhook_events", list(we.columns), we)
    ids = conn.execute(
        "SELECT webhook_event_id, delivery_key FROM landing.webhook_events WHERE gateway = 'kiwify'"
    ).fetchall()
    wmap = pl.DataFrame(ids, schema={"webhook_event_id": pl.Int64, "order_id": pl.String}, orient="row")
    cframe = frame.join(wmap, on="order_id").select(
        "webhook_event_id",
        "tenant_id",
        pl.lit("kiwify").alias("gateway"),
        "order_id",
        pl.lit("approved").alias("status"),
        "event_time",
        pl.lit("97.00").alias("amount"),
        pl.lit("BRL").alias("currency"),
        pl.lit("prod-1").alias("product_id"),
        "session_id",
        "tracking",
        "fbclid",
        "client_ip",
        "user_agent",
        "email_hash",
    )
    _copy_csv(conn, "landing.conversions", list(cframe.columns), cframe)
    if idents:
        iframe = pl.DataFrame(idents)
        _copy_csv(conn, "landing.identities", list(iframe.columns), iframe)
    conn.execute("ANALYZE landing.conversions")
    conn.execute("ANALYZE landing.identities")
    return expected


def reset_core(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE core.matches, core.dedupe_registry, core.purchases CASCADE")
    conn.execute("DELETE FROM ops.pipeline_watermarks WHERE name = %s", (batch.WATERMARK_NAME,))


def prepare_size(server: str, clicks: int, purchases: int) -> dict:
    """A migrated database with ``clicks`` clicks and ``purchases`` landed purchases (not yet processed)."""
    name = f"trackai_bench_{clicks}_{secrets.token_hex(2)}"
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    rng = np.random.default_rng(42)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        with psycopg.connect(url, autocommit=True) as conn:
            tenants = _tenants(conn)
            load_s = load_clicks(conn, url, clicks, tenants, now, seed=42)
            progress(f"clicks loaded in {load_s:.0f} s; landing {purchases:,} purchases")
            expected = land_purchases(conn, purchases, clicks, tenants, now, rng)
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('landing.clicks'))").fetchone()[
                0
            ]
    except BaseException:
        db.drop_database(server, name)
        raise
    return {
        "clicks": clicks,
        "clicks_table_size": size,
        "purchases": purchases,
        "load_s": round(load_s, 1),
        "landed_kinds": expected,
        "runs": [],
        "database": name,
        "url": url,
    }


def run_once(result: dict) -> None:
    """One timed micro-batch over the size's landed purchases (core tables reset first)."""
    with psycopg.connect(result["url"], autocommit=True) as conn:
        reset_core(conn)
    t0 = time.perf_counter()
    summary = batch.run_batch(result["url"], mode="incremental")
    wall = time.perf_counter() - t0
    result["runs"].append(
        {
            "wall_s": round(wall, 3),
            "timings_ms": summary.timings_ms,
            "matched": summary.matched,
            "unmatched": summary.unmatched,
            "purchases": summary.purchases_processed,
        }
    )
    result["best_wall_s"] = min(r["wall_s"] for r in result["runs"])


STAGES = [
    "fetch_conversions",
    "fold",
    "deterministic",
    "semi_deterministic",
    "probabilistic",
    "combine",
    "write",
]


def _stage_ms(timings: dict) -> dict[str, float]:
    """Per-stage ms of one run (batch.run_batch's ``fold`` includes the fetch; report it alone)."""
    out = {k: timings.get(k, 0.0) for k in STAGES}
    out["fold"] = round(out["fold"] - out["fetch_conversions"], 1)
    return out


def report(results: list[dict], smoke: bool, repeat: int) -> None:
    baseline = results[0]["best_wall_s"]
    columns = [
        "clicks",
        "table size",
        "load s",
        "runs s",
        "best s",
        "fetch+fold ms",
        "match ms",
        "write ms",
        "x baseline",
    ]
    rows = []
    for r in results:
        best = min(r["runs"], key=lambda x: x["wall_s"])
        st = _stage_ms(best["timings_ms"])
        rows.append(
            [
                r["clicks"],
                r["clicks_table_size"],
                r["load_s"],
                " / ".join(f"{x['wall_s']:.2f}" for x in r["runs"]),
                r["best_wall_s"],
                round(st["fetch_conversions"] + st["fold"]),
                round(st["deterministic"] + st["semi_deterministic"] + st["probabilistic"] + st["combine"]),
                round(st["write"]),
                round(r["best_wall_s"] / baseline, 3),
            ]
        )
    largest = results[-1]
    targets = [Target(f"micro-batch at {largest['clicks']:,} clicks", largest["best_wall_s"], 2.0, "s")]
    ratio = None
    if len(results) >= 2:
        ratio = largest["best_wall_s"] / baseline
        targets.append(
            Target(f"{largest['clicks']:,} / {results[0]['clicks']:,} clicks time", ratio, 1.3, "x")
        )

    def plot(ax) -> None:
        labels = [f"{r['clicks']:,} clicks" for r in results]
        bottoms = [0.0] * len(results)
        colors = ["#8c564b", "#bcbd22", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#d62728"]
        for stage, color in zip(STAGES, colors, strict=True):
            values = [
                _stage_ms(min(r["runs"], key=lambda x: x["wall_s"])["timings_ms"])[stage] / 1000
                for r in results
            ]
            ax.bar(labels, values, bottom=bottoms, label=stage, color=color, width=0.5)
            bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
        for i, r in enumerate(results):
            ax.annotate(f"{r['best_wall_s']:.2f} s", (i, r["best_wall_s"]), ha="center", va="bottom")
        ax.axhline(2.0, color="#d62728", linestyle="--", linewidth=1, label="target 2 s")
        ax.set_ylim(0, max(2.0, *(r["best_wall_s"] for r in results)) * 1.35)
        ax.set_ylabel(f"seconds, best of {repeat} (stacked by stage)")
        ax.legend(fontsize=7, loc="upper left", ncols=2)

    purchases = results[0]["purchases"]
    publish(
        "p2_matching",
        title=f"P2 matching: one micro-batch of {purchases:,} purchases vs landing.clicks size",
        columns=columns,
        rows=rows,
        targets=targets,
        smoke=smoke,
        plot=plot,
        details={
            "results": results,
            "baseline": f"{results[0]['clicks']:,} clicks (same invocation)",
            "ratio_largest_to_smallest": round(ratio, 3) if ratio is not None else None,
            "repeat": repeat,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clicks", type=int, action="append", help="click-table size (repeatable; default 1 M and 10 M)"
    )
    parser.add_argument("--purchases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per size (interleaved)")
    parser.add_argument("--smoke", action="store_true", help="20k clicks, 500 purchases, 1 run (CI)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args(argv)
    sizes = sorted(args.clicks or [1_000_000, 10_000_000])
    purchases, repeat = args.purchases, args.repeat
    if args.smoke:
        sizes, purchases, repeat = [20_000], 500, 1
    server = db.server_url()
    results: list[dict] = []
    started = time.perf_counter()
    try:
        for n in sizes:
            progress(f"size {n:,} clicks: create database, migrate, load")
            results.append(prepare_size(server, n, purchases))
        # Interleave the sizes (small, large, small, large, ...): the machine's load drifts over minutes, so
        # runs of both sizes side by side keep the ratio honest.
        for k in range(repeat):
            for r in results:
                run_once(r)
            runs = "; ".join(f"{r['clicks']:,}: {r['runs'][-1]['wall_s']:.2f} s" for r in results)
            progress(f"round {k + 1}/{repeat}: {runs} ({time.perf_counter() - started:.0f} s so far)")
    finally:
        for r in results:
            url = r.pop("url")
            if args.keep:
                progress(f"kept database {r['database']} ({url})")
            else:
                db.drop_database(server, r["database"])
                r["database"] = None
    report(results, args.smoke, repeat)
    print(f"  full run: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    errors = [
        f"{r['clicks']:,} clicks: {run['purchases']} of {purchases} purchases processed"
        for r in results
        for run in r["runs"]
        if run["purchases"] != purchases
    ]
    if args.smoke and not sum(results[0]["runs"][0]["matched"].values()):
        errors.append("nothing matched")
    for error in errors:
        print(f"functional failure: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
