"""One scanner of a whole database for needles (plaintext PII, hashes, order ids): R5's plaintext test, the
LGPD request's "nothing left" test and the retention test all read every cell through it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

# Where text can hide; `all_types=True` casts every column (uuid, inet, numbers…) to text as well.
TEXTUAL_TYPES = ("text", "character varying", "character", "json", "jsonb", "ARRAY", "USER-DEFINED", "xml")


@dataclass
class Scan:
    columns: int = 0
    tables: int = 0
    rows: int = 0
    cells: int = 0
    bytes: int = 0
    hits: list[tuple[str, str]] = field(default_factory=list)  # (schema.table.column, label)


def pattern_of(needles: dict[str, str]) -> re.Pattern:
    """One alternation, longest needle first, so a needle inside another still reports the longer one."""
    return re.compile("|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True)))


def table_columns(conn: psycopg.Connection, all_types: bool = False) -> dict[tuple[str, str], list[str]]:
    """Columns of every base table outside the system schemas, per (schema, table), in table order."""
    rows = conn.execute(
        """SELECT c.table_schema, c.table_name, c.column_name
             FROM information_schema.columns c
             JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE t.table_type = 'BASE TABLE'
              AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
              AND c.table_schema NOT LIKE 'pg\\_%%'
              AND (%s OR c.data_type = ANY(%s))
            ORDER BY 1, 2, c.ordinal_position""",
        (all_types, list(TEXTUAL_TYPES)),
    ).fetchall()
    out: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        out.setdefault((schema, table), []).append(column)
    return out


def text_rows(conn: psycopg.Connection, all_types: bool = False):
    """Yields (schema, table, columns, row) for every row, each cell cast to text (NULL stays None)."""
    for (schema, table), columns in table_columns(conn, all_types).items():
        query = sql.SQL("SELECT {} FROM {}.{}").format(
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
            sql.Identifier(schema),
            sql.Identifier(table),
        )
        with conn.cursor() as cur:
            for row in cur.execute(query):
                yield schema, table, columns, row


def text_cells(conn: psycopg.Connection, all_types: bool = False):
    """Yields (schema.table.column, value as text) for every non-NULL cell."""
    for schema, table, columns, row in text_rows(conn, all_types):
        for column, value in zip(columns, row, strict=True):
            if value is not None:
                yield f"{schema}.{table}.{column}", value


def scan_database(url: str, needles: dict[str, str], all_types: bool = False) -> Scan:
    """Every (textual, or with all_types every) column of every base table, lowercased, searched for every
    needle (lowercase); hits carry the needle's label."""
    pattern = pattern_of(needles)
    result = Scan()
    with psycopg.connect(url, autocommit=True) as conn:
        columns = table_columns(conn, all_types)
        result.tables = len(columns)
        result.columns = sum(len(c) for c in columns.values())
        for schema, table, names, row in text_rows(conn, all_types):
            result.rows += 1
            for column, value in zip(names, row, strict=True):
                if value is None:
                    continue
                result.cells += 1
                result.bytes += len(value)
                for match in pattern.finditer(value.lower()):
                    result.hits.append((f"{schema}.{table}.{column}", needles[match.group()]))
    return result
