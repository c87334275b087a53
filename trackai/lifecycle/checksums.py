"""Consistency markers: a named restore point together with per-table row counts and content checksums of
the database exactly at that point, so a restore to the point can be compared row for row.

How the point is made exact without stopping the service: one session takes SHARE locks on every user
table (writers wait, readers go on; lock_timeout bounds the wait), a second session opens a REPEATABLE
READ snapshot while the locks are held, the first creates the restore point and commits (the locks last
milliseconds). No write to any table can fall between the snapshot and the restore point, so the
snapshot, read at leisure afterwards, is the database at the restore point. The marker's time is taken
under the locks too: every commit before it is in the snapshot, every commit after it is not, so a
restore to that *timestamp* gives the same database (point-in-time recovery checked exactly).

A table's checksum is the sum of the first 64 bits of md5(row::text) over its rows (order-independent),
with the session's text formats pinned, plus its row count.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from trackai.lifecycle.store import ObjectStore

MARKER_DIR = "markers/"
PINNED_FORMATS = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)


@dataclass
class Marker:
    name: str
    time: str
    lsn: str
    wal_file: str
    database: str
    tables: dict[str, list]

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.time)

    def as_dict(self) -> dict:
        return asdict(self)


def user_tables(conn: psycopg.Connection) -> list[str]:
    """Every ordinary or partitioned table outside the system schemas (partitions count via their parent)."""
    rows = conn.execute(
        """
        SELECT format('%I.%I', n.nspname, c.relname)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
         ORDER BY 1
        """
    ).fetchall()
    return [r[0] for r in rows]


def table_checksums(conn: psycopg.Connection, tables: list[str] | None = None) -> dict[str, list]:
    """{table: [row count, checksum]} read in the connection's current snapshot."""
    for statement in PINNED_FORMATS:
        conn.execute(statement)
    out: dict[str, list] = {}
    for table in tables if tables is not None else user_tables(conn):
        schema, name = table.split(".", 1)
        ident = sql.Identifier(schema.strip('"'), name.strip('"'))
        count, checksum = conn.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text "
                "FROM {} t"
            ).format(ident)
        ).fetchone()
        out[table] = [int(count), checksum]
    return out


def create_marker(
    url: str, name: str | None = None, *, lock_timeout_s: float = 5.0, attempts: int = 5
) -> Marker:
    """Make a restore point and the checksums of the database at that exact point (module docstring)."""
    name = name or "trackai-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    for attempt in range(1, attempts + 1):
        with psycopg.connect(url) as locker, psycopg.connect(url) as reader:
            tables = user_tables(locker)
            locker.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
            try:
                locker.execute(
                    sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
                        sql.SQL(", ").join(sql.SQL(t) for t in tables)
                    )
                )
            except psycopg.errors.LockNotAvailable:
                locker.rollback()
                if attempt == attempts:
                    raise
                time.sleep(attempt)
                continue
            reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            reader.execute("SELECT 1")  # the snapshot is taken here, under the locks
            lsn, wal_file, at, database = locker.execute(
                "SELECT p::text, pg_walfile_name(p), clock_timestamp(), current_database() "
                "FROM pg_create_restore_point(%s) AS p",
                (name,),
            ).fetchone()
            locker.commit()
            checksums = table_checksums(reader, tables)
            reader.commit()
        return Marker(name, at.astimezone(UTC).isoformat(), lsn, wal_file, database, checksums)
    raise AssertionError("unreachable")


def commit_after(url: str) -> str:
    """Commit an empty transaction that has a transaction id (a commit record, no data) and return the WAL
    file it is in. Recovery to a timestamp stops at the first commit after it; without a later commit in
    the archive it cannot know it went far enough and fails."""
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_current_xact_id()")
        return conn.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()[0]


def save_marker(store: ObjectStore, marker: Marker) -> None:
    store.put(f"{MARKER_DIR}{marker.name}.json", json.dumps(marker.as_dict()).encode())


def load_markers(store: ObjectStore) -> list[Marker]:
    """Stored markers, oldest first."""
    found = [
        Marker(**json.loads(store.get(o["key"])))
        for o in store.list(MARKER_DIR)
        if o["key"].endswith(".json")
    ]
    return sorted(found, key=lambda m: m.time)


def differences(expected: dict[str, list], actual: dict[str, list]) -> list[str]:
    """Human-readable differences between two checksum maps (empty: identical)."""
    out = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            out.append(f"{table}: expected {want}, restored {got}")
    return out
