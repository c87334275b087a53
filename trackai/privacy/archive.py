"""The Parquet archive follows data-subject requests (issue 23): find a buyer's archived rows, and rewrite
each affected day without them, then verify the rewritten object like the archive verifies an export.

A day's object ``<schema>/<table>/day=<D>/data.parquet`` (``trackai.lifecycle.archive``) is read through
DuckDB, written again without the buyer's rows to a local file, uploaded over the same key (server-side
encrypted, as every archive object), read back from the store and compared with the local file: row count
and the order-independent content checksum the archive uses. ``lifecycle.archived_partitions`` then gets
the new row count and checksum (``verified_at`` = now), so the archive's own checks stay consistent.
A mismatch raises: the database is erased only after every archived day was rewritten and verified.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from trackai.lifecycle import archive, duck
from trackai.lifecycle.store import ObjectStore
from trackai.settings import Settings

if TYPE_CHECKING:
    from trackai.privacy.subjects import Footprint, Subject

PARENTS = ("landing.clicks", "landing.identities", "landing.conversions")


class ArchiveRewriteError(RuntimeError):
    pass


def _has_objects(store: ObjectStore, parent: str) -> bool:
    return any(True for _ in store.list(parent.replace(".", "/") + "/"))


def _predicate(parent: str) -> str:
    """DuckDB condition over one archived row: the tenant and (hash, session or order). Parameters, in
    order: tenant, hash, sessions[, orders] (lists). NULL for a row without a hash: negate with coalesce."""
    base = "tenant_id::VARCHAR = ? AND ({col} = ? OR list_contains(?, session_id)"
    if parent == "landing.conversions":
        base += " OR list_contains(?, gateway || chr(31) || order_id)"
    return base + ")"


def _params(subject: Subject, parent: str, sessions, orders) -> list[Any]:
    params: list[Any] = [subject.tenant_id, subject.hash, sorted(sessions)]
    if parent == "landing.conversions":
        params.append(sorted(f"{g}\x1f{o}" for g, o in orders))
    return params


def find_rows(subject: Subject, settings: Settings, *, sessions=(), orders=()) -> dict[str, list[dict]]:
    """parent -> archived rows (with ``day``) of the tenant carrying the hash, one of the sessions or orders."""
    store = ObjectStore.from_settings("archive", settings)
    con = duck.connect(settings)
    out: dict[str, list[dict]] = {}
    try:
        for parent in PARENTS:
            if not _has_objects(store, parent):
                continue
            source = (
                f"read_parquet('{archive.glob(parent, store)}', hive_partitioning = true, "
                "hive_types = {'day': DATE}, union_by_name = true)"
            )
            where = _predicate(parent).format(col=subject.column)
            cur = con.execute(
                f"SELECT * FROM {source} WHERE {where}", _params(subject, parent, sessions, orders)
            )
            names = [d[0] for d in cur.description]
            out[parent] = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    return out


def rewrite_without(conn: psycopg.Connection, fp: Footprint, settings: Settings) -> dict[str, int]:
    """Rewrite every archived day holding the buyer's rows without them; returns rows removed per
    ``archive:<parent>``. Raises ArchiveRewriteError when a rewritten object does not verify."""
    store = ObjectStore.from_settings("archive", settings)
    removed: dict[str, int] = {}
    for parent, days in sorted(fp.archive_days.items()):
        total = 0
        for day in sorted(days):
            total += _rewrite_day(conn, store, settings, parent, day, fp)
        removed[f"archive:{parent}"] = total
    return removed


def _rewrite_day(
    conn: psycopg.Connection, store: ObjectStore, settings: Settings, parent: str, day: str, fp: Footprint
) -> int:
    from datetime import date

    key = archive.object_key(parent, date.fromisoformat(day))
    url = store.url(key)
    where = _predicate(parent).format(col=fp.subject.column)
    params = _params(fp.subject, parent, fp.sessions, fp.orders)
    con = duck.connect(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="trackai-privacy-") as tmp:
            local = Path(tmp) / "data.parquet"
            source = f"read_parquet('{url}', hive_partitioning = false)"
            before = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
            con.execute(
                f"COPY (SELECT * FROM {source} WHERE NOT coalesce(({where}), false)) TO '{local}' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)",
                params,
            )
            local_source = f"read_parquet('{local}', hive_partitioning = false)"
            cols = [(d[0], "") for d in con.execute(f"SELECT * FROM {local_source} LIMIT 0").description]
            expected = con.execute(archive.checksum_sql(local_source, cols)).fetchone()
            gone = before - expected[0]
            if gone == 0:
                return 0
            store.upload_file(key, local, {"rows": str(expected[0])})
            actual = con.execute(archive.checksum_sql(source, cols)).fetchone()
            if tuple(actual) != tuple(expected):
                raise ArchiveRewriteError(
                    f"{parent} {day}: rewritten object reads back {actual}, expected {expected}"
                )
            left = con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()[0]
            if left:
                raise ArchiveRewriteError(f"{parent} {day}: {left} of the buyer's rows still in the object")
            conn.execute(
                """UPDATE lifecycle.archived_partitions
                      SET row_count = %s, checksum = %s, bytes = %s, verified_at = now(), verify_error = NULL
                    WHERE parent = %s AND day = %s""",
                (expected[0], f"{expected[0]}:{expected[1]}", local.stat().st_size, parent, day),
            )
            return gone
    finally:
        con.close()
