"""Daily partitions (sql/0700): keep partitions ahead of today and list what exists.

The DDL runs in the database as the owner (SECURITY DEFINER functions), so Dagster's least-privilege
role can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg


@dataclass(frozen=True)
class Partition:
    parent: str
    name: str
    day: date | None  # None: the DEFAULT partition
    estimated_rows: int


def ensure_ahead(conn: psycopg.Connection, days_ahead: int, today: date | None = None) -> list[str]:
    """Create today .. today+days_ahead for every partitioned table (and split the DEFAULT); returns new names."""
    conn.execute("SET lock_timeout = '10s'")
    rows = conn.execute("SELECT * FROM lifecycle.ensure_partitions(%s, %s)", (days_ahead, today)).fetchall()
    return [r[0] for r in rows]


def registered(conn: psycopg.Connection) -> dict[str, str]:
    """{parent table: partition key column}."""
    return dict(
        conn.execute("SELECT parent, partition_key FROM lifecycle.partitioned_tables ORDER BY 1").fetchall()
    )


def listing(conn: psycopg.Connection) -> list[Partition]:
    rows = conn.execute(
        "SELECT parent, partition, day, estimated_rows FROM lifecycle.partitions ORDER BY parent, day NULLS FIRST"
    ).fetchall()
    return [Partition(*r) for r in rows]
