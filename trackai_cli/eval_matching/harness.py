"""Run simulated traffic through the real engine: landing rows in Postgres -> run_batch -> core.matches.

Clicks and approved conversions (with their landing.webhook_events rows) are landed with COPY in the
shape the ingest service lands them (snippet-shaped session ids, ``fb.1.<ms>.<fbclid>`` fbc, the
session id in ``tracking.src`` when the checkout kept it). Purchases are then processed as production
does: incremental micro-batches over the purchases of each ``batch_minutes`` of purchase time, through
``trackai.pipeline.batch.run_batch``. The decisions are read back from core.matches (and, when the schema
has them, the abstentions recorded on core.purchases) with the session of each matched click.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import psycopg

from trackai.pipeline import batch
from trackai.pipeline.params import MatchParams
from trackai_cli.eval_matching.simulator import Scenario, Traffic, simulate

CLICK_COLUMNS = [
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
CONVERSION_COLUMNS = [
    "webhook_event_id",
    "tenant_id",
    "gateway",
    "order_id",
    "status",
    "gateway_status",
    "event_time",
    "amount",
    "currency",
    "product_id",
    "session_id",
    "tracking",
    "fbc",
    "client_ip",
    "user_agent",
    "email_hash",
]


def _copy(conn: psycopg.Connection, table: str, frame: pl.DataFrame, columns: list[str]) -> None:
    buf = io.BytesIO()
    frame.select(columns).write_csv(
        buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z", null_value=""
    )
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getvalue())


def create_tenant(conn: psycopg.Connection, name: str) -> str:
    return conn.execute(
        "INSERT INTO core.tenants (name, pixel_id) VALUES (%s, %s) RETURNING tenant_id::text",
        (name, "1234567890"),
    ).fetchone()[0]


def land(conn: psycopg.Connection, tenant_id: str, traffic: Traffic) -> None:
    """The scenario's clicks, then its purchases in purchase-time order (conversion ids follow it)."""
    _copy(
        conn,
        "landing.clicks",
        traffic.clicks.with_columns(pl.lit(tenant_id).alias("tenant_id")),
        CLICK_COLUMNS,
    )
    p = traffic.purchases.with_columns(pl.lit(tenant_id).alias("tenant_id"))
    events = p.select(
        "tenant_id",
        pl.lit("kiwify").alias("gateway"),
        pl.col("order_id").alias("delivery_key"),
        pl.lit("approved").alias("event_type"),
        pl.lit("{}").alias("payload_redacted"),
        pl.lit("0" * 64).alias("payload_sha256"),
    )
    _copy(conn, "landing.webhook_events", events, list(events.columns))
    ids = conn.execute(
        "SELECT webhook_event_id, delivery_key FROM landing.webhook_events WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    wmap = pl.DataFrame(ids, schema={"webhook_event_id": pl.Int64, "order_id": pl.String}, orient="row")
    conversions = (
        p.join(wmap, on="order_id")
        .sort("event_time")
        .with_columns(
            pl.lit("kiwify").alias("gateway"),
            pl.lit("approved").alias("status"),
            pl.lit("approved").alias("gateway_status"),
            pl.lit("97.00").alias("amount"),
            pl.lit("BRL").alias("currency"),
            pl.lit("prod-1").alias("product_id"),
        )
    )
    _copy(conn, "landing.conversions", conversions, CONVERSION_COLUMNS)


def run_micro_batches(
    url: str, conn: psycopg.Connection, tenant_id: str, params: MatchParams, batch_minutes: float
) -> int:
    """Process the tenant's landed purchases in micro-batches of ``batch_minutes`` of purchase time."""
    rows = conn.execute(
        "SELECT conversion_id, event_time FROM landing.conversions WHERE tenant_id = %s ORDER BY conversion_id",
        (tenant_id,),
    ).fetchall()
    if not rows:
        return 0
    first, step = rows[0][1], timedelta(minutes=batch_minutes)
    last_of_bucket: dict[int, int] = {}
    for conversion_id, event_time in rows:  # conversion ids follow purchase time (landed sorted)
        last_of_bucket[(event_time - first) // step] = conversion_id
    bounds = sorted(last_of_bucket.values())
    for upto in bounds:
        batch.run_batch(url, mode="incremental", upto=upto, settings=params)
    return len(bounds)


def decisions(conn: psycopg.Connection, tenant_id: str) -> pl.DataFrame:
    """Per processed purchase: order_id, stage (null = unmatched), matched session, confidence, abstain reason.

    Read through ``to_jsonb`` so the same code reads the schema before and after the confidence columns."""
    rows = conn.execute(
        """
        SELECT p.order_id, m.stage, c.session_id,
               coalesce((to_jsonb(m) ->> 'confidence')::float8, m.score::float8),
               to_jsonb(p) ->> 'abstain_reason'
          FROM core.purchases p
          LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
          LEFT JOIN landing.clicks c ON c.click_id = m.click_id
         WHERE p.tenant_id = %s AND p.approved_at IS NOT NULL
        """,
        (tenant_id,),
    ).fetchall()
    return pl.DataFrame(
        rows,
        schema={
            "order_id": pl.String,
            "stage": pl.String,
            "matched": pl.String,
            "confidence": pl.Float64,
            "abstain_reason": pl.String,
        },
        orient="row",
    )


@dataclass(frozen=True)
class Run:
    """One scenario through the engine: what was simulated, the tenant it ran under, what was decided."""

    traffic: Traffic
    tenant_id: str
    decisions: pl.DataFrame


def run_scenario(
    url: str,
    scenario: Scenario,
    *,
    start: datetime,
    params: MatchParams | None = None,
    batch_minutes: float = 15.0,
) -> Run:
    """Simulate, land under a fresh tenant, process in micro-batches, and read the decisions back."""
    traffic = simulate(scenario, start)
    params = params or MatchParams.from_settings()
    with psycopg.connect(url, autocommit=True) as conn:
        tenant_id = create_tenant(conn, f"eval {scenario.name} seed {scenario.seed}")
        land(conn, tenant_id, traffic)
        run_micro_batches(url, conn, tenant_id, params, batch_minutes)
        return Run(traffic, tenant_id, decisions(conn, tenant_id))
