"""Time the Parquet archive of one day of clicks: export (DuckDB reads the partition from Postgres, writes
zstd Parquet, boto3 uploads it), verification (read back from the store through DuckDB httpfs, compared
with the partition), a DuckDB scan of the archived day, and the retention drop; and the sizes.

Usage:
    .venv/bin/python bench/bench_archive.py             # full: 1 M clicks in one day
    .venv/bin/python bench/bench_archive.py --clicks 200000
    .venv/bin/python bench/bench_archive.py --smoke     # 20 k clicks, for CI (functional, seconds)

The object store is moto's S3 server on 127.0.0.1 (as in tests/lifecycle); the database is a throwaway one
on the configured server (TRACKAI_DATABASE_URL's, else the embedded Postgres), migrated with sql/. The day's
partition is created first and filled with generated clicks shaped like the ingest service's (10 tenants,
snippet session ids, IPv4, user agents, half with fbclid/fbc, utm jsonb, a fifth with an email hash).
Output (bench/_report.py, name ``archive``): docs/benchmarks/archive.json/.png (``--smoke``: .trackai/).
Full mode also runs the restore drill on a private Postgres of ``--drill-clicks`` clicks (base backup size
and time, RPO, RTO latest and point in time). Exit status non-zero only on a functional error
(verification failed, the day not dropped, counts differ, the drill failed).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import date
from pathlib import Path

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Target, publish  # noqa: E402

from trackai import db, migrations  # noqa: E402

DAY = date(2025, 6, 2)
TENANTS = 10


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def start_store() -> object:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        TRACKAI_LIFECYCLE_S3_ENDPOINT_URL=f"http://{host}:{port}",
        TRACKAI_LIFECYCLE_S3_BUCKET="trackai-bench-archive",
    )
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import reset_settings_cache

    reset_settings_cache()
    ObjectStore.from_settings("archive").client.create_bucket(Bucket="trackai-bench-archive")
    return server


def load_day(url: str, clicks: int, *, day: date | None = DAY, tenants_exist: bool = False) -> None:
    """``clicks`` generated clicks over one day (``day``; None: the last 24 hours)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if tenants_exist:
            tenants = [r[0] for r in conn.execute("SELECT tenant_id FROM core.tenants ORDER BY name")]
        else:
            tenants = [
                conn.execute(
                    "INSERT INTO core.tenants (name, pixel_id) VALUES (%s, '1234567890') RETURNING tenant_id",
                    (f"b{i}",),
                ).fetchone()[0]
                for i in range(TENANTS)
            ]
        if day is not None:
            conn.execute("SELECT lifecycle.create_partition('landing.clicks', %s)", (day,))
        start = (
            f"{day.isoformat()}T00:00:00+00:00"
            if day is not None
            else conn.execute("SELECT (now() - interval '1 day')::text").fetchone()[0]
        )
        conn.execute(
            """
            INSERT INTO landing.clicks (tenant_id, event_type, session_id, occurred_at, landing_url, fbclid, fbc,
                                        fbp, client_ip, user_agent, email_hash, utm)
            SELECT (%(t)s::uuid[])[1 + g %% 10], 'click', 'tai_' || lpad(g::text, 22, '0'),
                   %(day)s::timestamptz + ((g - 1)::float8 / %(n)s) * interval '1 day',
                   'https://shop.example/lp?utm_campaign=bench&utm_source=facebook',
                   CASE WHEN g %% 2 = 0 THEN 'IwAR' || g || 'xYz' END,
                   CASE WHEN g %% 2 = 0 THEN 'fb.1.1748822400000.IwAR' || g || 'xYz' END,
                   'fb.1.1748822400000.' || g,
                   ('10.' || (g / 65536) %% 256 || '.' || (g / 256) %% 256 || '.' || g %% 256)::inet,
                   'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36',
                   CASE WHEN g %% 5 = 0 THEN md5(g::text) || md5('e' || g) END,
                   jsonb_build_object('utm_source', 'facebook', 'utm_campaign', 'bench')
              FROM generate_series(1, %(n)s) g
            """,
            {"t": [str(t) for t in tenants], "day": start, "n": clicks},
        )
        conn.execute("ANALYZE landing.clicks")


def drill_at_size(clicks: int) -> dict:
    """A private Postgres (WAL archived to the store) with ``clicks`` clicks: base backup, then the restore
    drill (latest + point in time): backup size and time, RPO and RTO at that size."""
    import shutil
    import tempfile

    from trackai.lifecycle import basebackup, checksums, drill
    from trackai.lifecycle.server import PrivateServer
    from trackai.settings import reset_settings_cache

    base = Path(tempfile.mkdtemp(prefix="trackai-bench-drill-"))
    os.environ["TRACKAI_LIFECYCLE_DRILL_DIR"] = str(base / "restore")
    reset_settings_cache()
    server = PrivateServer.init(base / "data", archive=True, archive_timeout_s=10)
    server.start()
    try:
        url = server.url()
        migrations.upgrade(url, REPO_ROOT / "sql")
        load_day(url, clicks, day=None)
        t0 = time.perf_counter()
        info = basebackup.take(url)
        backup_s = time.perf_counter() - t0
        earlier = checksums.create_marker(url)
        load_day(url, max(clicks // 100, 1000), day=None, tenants_exist=True)
        report = drill.run_drill(url, pitr_target=earlier)
        if not report.ok:
            raise RuntimeError(f"drill failed: {report.error}")
        return {
            "clicks": clicks,
            "backup_s": round(backup_s, 1),
            "backup_raw_bytes": info.raw_bytes,
            "backup_stored_bytes": info.stored_bytes,
            "rpo_s": report.rpo_s,
            "checks": report.checks,
        }
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def best_of(runs: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help="20k clicks (CI)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--drill-clicks",
        type=int,
        default=1_000_000,
        help="database size of the restore drill (full mode only)",
    )
    args = parser.parse_args(argv)
    clicks = 20_000 if args.smoke else args.clicks

    store_server = start_store()
    from trackai.lifecycle import archive, duck
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import get_settings

    settings = get_settings()
    store = ObjectStore.from_settings("archive", settings)
    server = db.server_url()
    name = f"trackai_bench_archive_{secrets.token_hex(3)}"
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        t0 = time.perf_counter()
        load_day(url, clicks)
        progress(f"loaded {clicks:,} clicks in {time.perf_counter() - t0:.1f} s")
        with psycopg.connect(url) as conn:
            pg_bytes = conn.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (f"landing.clicks_p{DAY:%Y%m%d}",)
            ).fetchone()[0]
        result = archive.export_day(url, "landing.clicks", "occurred_at", DAY, settings=settings, store=store)
        progress(f"export {result.export_s:.2f} s, {result.bytes:,} bytes")
        archive.verify_day(
            url, "landing.clicks", "occurred_at", DAY, settings=settings, store=store, result=result
        )
        progress(f"verify {result.verify_s:.2f} s: {result.verified}")
        con = duck.connect(settings)
        source = f"read_parquet('{store.url(archive.object_key('landing.clicks', DAY))}')"
        scan_s, per_tenant = best_of(
            3,
            lambda: con.execute(
                f"SELECT tenant_id, count(*), count(DISTINCT session_id) FROM {source} GROUP BY 1"
            ).fetchall(),
        )
        lookup_s, found = best_of(
            3,
            lambda: con.execute(
                f"SELECT count(*) FROM {source} WHERE session_id = 'tai_{clicks // 2:022d}'"
            ).fetchone()[0],
        )
        con.close()
        with psycopg.connect(url, autocommit=True) as conn:
            t0 = time.perf_counter()
            dropped = conn.execute(
                "SELECT lifecycle.drop_archived_partition('landing.clicks', %s)", (DAY,)
            ).fetchone()[0]
            drop_s = time.perf_counter() - t0
        ok = result.verified and dropped == clicks and sum(r[1] for r in per_tenant) == clicks and found == 1
        drilled = None if args.smoke else drill_at_size(args.drill_clicks)
        drill_rows = []
        if drilled:
            latest, pitr = drilled["checks"]
            raw, sealed = drilled["backup_raw_bytes"] / 2**20, drilled["backup_stored_bytes"] / 2**20
            drill_rows = [
                [
                    f"base backup of {drilled['clicks']:,} clicks",
                    drilled["backup_s"],
                    f"{raw:,.0f} -> {sealed:,.0f} MiB",
                ],
                ["RPO (archive_timeout 10 s)", drilled["rpo_s"], "marker -> its WAL segment in the store"],
                [
                    "RTO latest",
                    latest["rto_s"],
                    f"fetch {latest['download_s']} s + recovery {latest['recovery_s']} s",
                ],
                [
                    "RTO point in time",
                    pitr["rto_s"],
                    f"fetch {pitr['download_s']} s + recovery {pitr['recovery_s']} s",
                ],
            ]
        rows_per_s = clicks / result.export_s
        publish(
            "archive",
            title=f"Parquet archive of one day ({clicks:,} clicks)",
            columns=["step", "seconds", "detail"],
            rows=[
                [
                    "export (Postgres -> Parquet -> S3)",
                    round(result.export_s, 3),
                    f"{rows_per_s:,.0f} rows/s",
                ],
                ["verify (S3 -> DuckDB vs Postgres)", round(result.verify_s, 3), result.checksum],
                ["DuckDB scan of the day (group by tenant)", round(scan_s, 3), f"{len(per_tenant)} tenants"],
                ["DuckDB lookup of one session", round(lookup_s, 3), f"{found} row"],
                ["drop (guarded)", round(drop_s, 3), f"{dropped:,} rows"],
                ["size in Postgres (heap + indexes)", None, f"{pg_bytes / 2**20:,.1f} MiB"],
                ["size in the archive (zstd Parquet)", None, f"{result.bytes / 2**20:,.1f} MiB"],
                *drill_rows,
            ],
            targets=[
                Target("export per 1 M rows", result.export_s * 1_000_000 / clicks, 60.0, "s"),
                Target("DuckDB scan of a day", scan_s, 2.0, "s"),
                Target("Postgres bytes / archive bytes", pg_bytes / max(result.bytes, 1), 5.0, "x", True),
            ],
            smoke=args.smoke,
            details={
                "clicks": clicks,
                "postgres_bytes": pg_bytes,
                "parquet_bytes": result.bytes,
                "export_s": result.export_s,
                "verify_s": result.verify_s,
                "scan_s": scan_s,
                "lookup_s": lookup_s,
                "drop_s": drop_s,
                "verified": result.verified,
                "drill": drilled,
            },
        )
        return 0 if ok else 1
    finally:
        if not args.keep:
            db.drop_database(server, name)
        store_server.stop()


if __name__ == "__main__":
    sys.exit(main())
