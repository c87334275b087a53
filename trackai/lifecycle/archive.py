"""The Parquet archive: daily partitions older than the hot window are exported, verified, and only then
dropped (retention).

- export: DuckDB reads the day from Postgres (postgres extension) and writes one zstd Parquet file,
  uploaded with boto3 (server-side encryption) to ``<archive_prefix><schema>/<table>/day=<D>/data.parquet``.
  Types DuckDB has are kept (uuid, timestamptz, numeric, bigint, text); inet/jsonb and other Postgres-only
  types are stored as their Postgres text, so the archive reads back exactly what ``::text`` printed.
- verify: the object is read back from the store through DuckDB (httpfs) and compared with the partition
  read again from Postgres: row count and an order-independent content checksum (the sum of DuckDB's
  row hash). Only then ``lifecycle.archived_partitions.verified_at`` is set; an object that fails is
  deleted (the day stays in Postgres and is exported again by the next run).
- retain: export + verify each day past the window, then ``lifecycle.drop_archived_partition``, which
  itself refuses a day that is unverified or whose row count changed since (the guard lives in the
  database, not only here).
- rehydrate: put an archived day back as a partition (for an archived-day backfill, then dropped again).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from trackai.lifecycle import duck
from trackai.lifecycle.store import ObjectStore
from trackai.settings import Settings, get_settings

NATIVE_TYPES = {
    "int2", "int4", "int8", "text", "varchar", "bpchar", "uuid", "timestamptz", "timestamp", "date",
    "bool", "numeric", "float4", "float8",
}  # fmt: skip


class ArchiveError(RuntimeError):
    pass


@dataclass
class DayResult:
    parent: str
    day: str
    rows: int = 0
    bytes: int = 0
    checksum: str = ""
    verified: bool = False
    dropped: bool = False
    error: str | None = None
    export_s: float = 0.0
    verify_s: float = 0.0


@dataclass
class RetainReport:
    hot_window_days: int
    cutoff: str
    days: list[DayResult] = field(default_factory=list)

    @property
    def failed(self) -> list[DayResult]:
        return [d for d in self.days if d.error]

    def as_dict(self) -> dict:
        return asdict(self)


def object_key(parent: str, day: date) -> str:
    schema, table = parent.split(".")
    return f"{schema}/{table}/day={day.isoformat()}/data.parquet"


def glob(parent: str, store: ObjectStore) -> str:
    """The DuckDB glob of every archived day of ``parent`` (hive-partitioned by ``day``)."""
    schema, table = parent.split(".")
    return store.url(f"{schema}/{table}/day=*/data.parquet")


def columns(conn: psycopg.Connection, parent: str) -> list[tuple[str, str]]:
    """(column, Postgres type name) of a table, in order."""
    return conn.execute(
        """
        SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
        """,
        (parent,),
    ).fetchall()


def _select_list(cols: list[tuple[str, str]]) -> str:
    return ", ".join(
        f'"{name}"' if typ in NATIVE_TYPES else f'"{name}"::text AS "{name}"' for name, typ in cols
    )


def _bounds(day: date) -> tuple[str, str]:
    lo = datetime.combine(day, datetime.min.time(), UTC)
    return lo.isoformat(), (lo + timedelta(days=1)).isoformat()


def day_query(conn: psycopg.Connection, parent: str, key: str, day: date) -> str:
    lo, hi = _bounds(day)
    return (
        f"SELECT {_select_list(columns(conn, parent))} FROM {parent} "
        f'WHERE "{key}" >= \'{lo}\' AND "{key}" < \'{hi}\' ORDER BY "{key}"'
    )


def checksum_sql(source: str, cols: list[tuple[str, str]]) -> str:
    names = ", ".join(f'"{name}"' for name, _ in cols)
    return f"SELECT count(*)::BIGINT, coalesce(sum(hash({names})::HUGEINT), 0)::VARCHAR FROM {source}"


def export_day(
    url: str, parent: str, key: str, day: date, *, settings: Settings, store: ObjectStore
) -> DayResult:
    """Write one day to the archive and record it (unverified)."""
    result = DayResult(parent, day.isoformat())
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        query = day_query(conn, parent, key, day)
        con = duck.connect(settings, postgres_url=url)
        try:
            with tempfile.TemporaryDirectory(prefix="trackai-archive-") as tmp:
                local = Path(tmp) / "data.parquet"
                con.execute(
                    f"COPY (SELECT * FROM {duck.postgres_query(query)}) TO '{local}' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
                )
                result.rows = con.execute(f"SELECT count(*) FROM read_parquet('{local}')").fetchone()[0]
                result.bytes = local.stat().st_size
                store.upload_file(object_key(parent, day), local, {"rows": str(result.rows)})
        finally:
            con.close()
        conn.execute(
            """
            INSERT INTO lifecycle.archived_partitions (parent, day, object_key, row_count, checksum, bytes)
            VALUES (%s, %s, %s, %s, '', %s)
            ON CONFLICT (parent, day) DO UPDATE SET object_key = excluded.object_key,
                row_count = excluded.row_count, checksum = '', bytes = excluded.bytes, exported_at = now(),
                verified_at = NULL, verify_error = NULL, dropped_at = NULL
            """,
            (parent, day, store.key(object_key(parent, day)), result.rows, result.bytes),
        )
    result.export_s = round(time.perf_counter() - started, 3)
    return result


def verify_day(
    url: str, parent: str, key: str, day: date, *, settings: Settings, store: ObjectStore, result: DayResult
) -> DayResult:
    """Compare the archived object (read from the store) with the partition; record the verdict."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        cols = columns(conn, parent)
        query = day_query(conn, parent, key, day)
        con = duck.connect(settings, postgres_url=url)
        try:
            pg_rows, pg_sum = con.execute(checksum_sql(duck.postgres_query(query), cols)).fetchone()
            source = f"read_parquet('{store.url(object_key(parent, day))}')"
            ar_rows, ar_sum = con.execute(checksum_sql(source, cols)).fetchone()
        except Exception as exc:  # an unreadable object is a failed verification, kept to retry
            pg_rows, pg_sum, ar_rows, ar_sum = 0, "", -1, f"unreadable: {exc}"
        finally:
            con.close()
        ok = (pg_rows, pg_sum) == (ar_rows, ar_sum)
        if not ok:  # readers of the archive glob every day: a wrong object must not stay there
            store.delete([object_key(parent, day)])
        result.rows, result.checksum, result.verified = pg_rows, f"{pg_rows}:{pg_sum}", ok
        result.error = (
            None if ok else f"archive {ar_rows} rows / {ar_sum}, partition {pg_rows} rows / {pg_sum}"
        )
        conn.execute(
            """
            UPDATE lifecycle.archived_partitions
               SET verified_at = CASE WHEN %s THEN now() END, verify_error = %s, checksum = %s, row_count = %s
             WHERE parent = %s AND day = %s
            """,
            (ok, result.error, result.checksum, pg_rows, parent, day),
        )
    result.verify_s = round(time.perf_counter() - started, 3)
    return result


def days_past_window(
    conn: psycopg.Connection, hot_window_days: int, today: date
) -> list[tuple[str, str, date]]:
    """(parent, key, day) of every daily partition older than the hot window, oldest first."""
    cutoff = today - timedelta(days=hot_window_days)
    rows = conn.execute(
        """
        SELECT p.parent, t.partition_key, p.day FROM lifecycle.partitions p
          JOIN lifecycle.partitioned_tables t USING (parent)
         WHERE p.day IS NOT NULL AND p.day < %s ORDER BY p.day, p.parent
        """,
        (cutoff,),
    ).fetchall()
    return [(parent, key, day) for parent, key, day in rows]


def retain(
    url: str, *, settings: Settings | None = None, store: ObjectStore | None = None, today: date | None = None
) -> RetainReport:
    """Archive, verify and drop every day past the hot window. A day that fails stays in Postgres."""
    settings = settings or get_settings()
    store = store or ObjectStore.from_settings("archive", settings)
    today = today or datetime.now(UTC).date()
    window = settings.lifecycle.hot_window_days
    report = RetainReport(window, (today - timedelta(days=window)).isoformat())
    with psycopg.connect(url, autocommit=True) as conn:
        todo = days_past_window(conn, window, today)
    for parent, key, day in todo:
        try:
            result = export_day(url, parent, key, day, settings=settings, store=store)
            verify_day(url, parent, key, day, settings=settings, store=store, result=result)
            if result.verified:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("SET lock_timeout = '10s'")
                    conn.execute("SELECT lifecycle.drop_archived_partition(%s, %s)", (parent, day))
                result.dropped = True
        except Exception as exc:  # one bad day must not stop the others; it is reported and retried
            result = DayResult(parent, day.isoformat(), error=f"{type(exc).__name__}: {exc}"[:2000])
        report.days.append(result)
    return report


def rehydrate_day(url: str, parent: str, day: date, *, settings: Settings, store: ObjectStore) -> int:
    """Put an archived day back as its partition (owner URL); returns the rows loaded."""
    with psycopg.connect(url, autocommit=True) as conn:
        cols = [c for c, _ in columns(conn, parent)]
        schema = parent.split(".")[0]
        part = conn.execute("SELECT lifecycle.create_partition(%s::regclass, %s)", (parent, day)).fetchone()[
            0
        ]
        con = duck.connect(settings)
        try:
            with tempfile.TemporaryDirectory(prefix="trackai-rehydrate-") as tmp:
                csv = Path(tmp) / "rows.csv"
                names = ", ".join(f'"{c}"' for c in cols)
                con.execute(
                    f"COPY (SELECT {names} FROM read_parquet('{store.url(object_key(parent, day))}')) "
                    f"TO '{csv}' (FORMAT csv, HEADER false)"
                )
                with (
                    conn.transaction(),
                    conn.cursor().copy(f'COPY "{schema}"."{part}" ({names}) FROM STDIN (FORMAT csv)') as copy,
                ):
                    copy.write(csv.read_bytes())
        finally:
            con.close()
        return conn.execute(f'SELECT count(*) FROM "{schema}"."{part}"').fetchone()[0]


def query(sql: str, settings: Settings | None = None) -> tuple[list[str], list[tuple]]:
    """Run SQL on the archive. Views ``clicks``, ``identities``, ``conversions`` and ``dispatch_attempts``
    read every archived day of their table (column ``day`` from the object path)."""
    settings = settings or get_settings()
    store = ObjectStore.from_settings("archive", settings)
    con = duck.connect(settings)
    try:
        for parent in (
            "landing.clicks",
            "landing.identities",
            "landing.conversions",
            "ops.dispatch_attempts",
        ):
            view = parent.split(".")[1]
            if any(True for _ in store.list(parent.replace(".", "/") + "/")):
                con.execute(
                    f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob(parent, store)}', "
                    # union_by_name: days archived before a migration added columns (e.g. sql/1300's flags)
                    # lack them; they read as NULL instead of failing the whole glob.
                    "hive_partitioning = true, hive_types = {'day': DATE}, union_by_name = true)"
                )
        cur = con.execute(sql)
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()
    finally:
        con.close()
