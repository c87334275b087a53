"""The durable watermark of the micro-batch (ops.pipeline_watermarks) and what lies past it."""

from __future__ import annotations

import psycopg

WATERMARK_NAME = "conversions"


def stored_watermark(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT value FROM ops.pipeline_watermarks WHERE name = %s", (WATERMARK_NAME,)
    ).fetchone()
    return int(row[0]) if row else 0


def latest_conversion_id(conn: psycopg.Connection, *, after: int = 0, settle_seconds: float = 0) -> int:
    """Newest conversion_id; with ``settle_seconds`` only rows created at least that long ago count.

    Identity values can commit out of order (id 101 visible before id 100); a watermark taken at 101 would
    skip 100 forever. The sensor therefore leaves rows younger than a few seconds for its next tick.
    """
    if settle_seconds <= 0:
        row = conn.execute("SELECT coalesce(max(conversion_id), 0) FROM landing.conversions").fetchone()
        return int(row[0])
    row = conn.execute(
        """SELECT coalesce(max(conversion_id), %s) FROM landing.conversions
           WHERE conversion_id > %s AND created_at <= now() - make_interval(secs => %s)""",
        (after, after, settle_seconds),
    ).fetchone()
    return int(row[0])


def touched_partition_dates(conn: psycopg.Connection, after: int, upto: int) -> list[str]:
    """UTC days the conversions in (after, upto] belong to (an existing purchase keeps its day)."""
    rows = conn.execute(
        """
        SELECT DISTINCT coalesce(p.partition_date, (c.event_time AT TIME ZONE 'UTC')::date)
        FROM landing.conversions c
        LEFT JOIN core.purchases p USING (tenant_id, gateway, order_id)
        WHERE c.conversion_id > %s AND c.conversion_id <= %s
        ORDER BY 1
        """,
        (after, upto),
    ).fetchall()
    return [r[0].isoformat() for r in rows]


def advance_watermark(conn: psycopg.Connection, value: int) -> None:
    conn.execute(
        """
        INSERT INTO ops.pipeline_watermarks AS w (name, value) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE SET value = GREATEST(w.value, EXCLUDED.value), updated_at = now()
        """,
        (WATERMARK_NAME, value),
    )
