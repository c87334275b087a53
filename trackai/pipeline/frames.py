"""Polars <-> Postgres plumbing of the micro-batch: rows into frames, Series into array literals, frames
into COPY. Nothing here knows what the rows mean."""

from __future__ import annotations

import io

import polars as pl
import psycopg


def frame(rows: list[tuple], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


def pg_array(values: pl.Series) -> str:
    """A Postgres array literal for ``values`` (one text parameter, cast in SQL): much cheaper than letting
    the driver adapt a 10k-element Python list. Elements are double-quoted and escaped; nulls become NULL."""
    if isinstance(values.dtype, pl.Datetime):
        text = values.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
    else:
        text = values.cast(pl.String)
    quoted = (
        pl.DataFrame({"v": text})
        .select(
            pl.when(pl.col("v").is_null())
            .then(pl.lit("NULL"))
            .otherwise(
                pl.lit('"')
                + pl.col("v")
                .str.replace_all("\\", "\\\\", literal=True)
                .str.replace_all('"', '\\"', literal=True)
                + pl.lit('"')
            )
            .str.join(",")
        )
        .item()
    )
    return "{" + (quoted or "") + "}"


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows: pl.DataFrame) -> None:
    """COPY a frame as CSV (Polars writes it; far cheaper than a Python loop per row). Lists -> arrays."""
    out = rows.select(columns).with_columns(
        [
            (pl.lit("{") + pl.col(c).list.join(",") + pl.lit("}")).alias(c)
            for c, dtype in rows.select(columns).schema.items()
            if isinstance(dtype, pl.List)
        ]
    )
    buf = io.BytesIO()
    out.write_csv(buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z", null_value="")
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getvalue())
