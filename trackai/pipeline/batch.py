"""One micro-batch in one Postgres transaction: fold purchases, match (3 stages), dedupe, watermark.

Modes:
- ``incremental`` (sensor / ``trackai pipeline run``): the orders with landed conversions in
  (stored watermark, ``upto``]; the watermark ``conversions`` in ops.pipeline_watermarks advances to
  ``upto`` in the same transaction as the results.
- ``recompute`` (backfills, manual materialisations of a partition): every order with a conversion
  whose event_time falls in the partition window, or whose purchase belongs to a partition in it. The
  watermark is left alone. Upserts that only write changed rows make a second run a no-op.

Overlap safety: the transaction starts with ``pg_advisory_xact_lock(LOCK_KEY)``, so two runs (sensor
+ CLI, or two queued runs that slipped through) serialise; the second one re-reads the watermark after
the lock and finds nothing left to do. Primary keys of core.matches / core.dedupe_registry back it up.

Candidate clicks are fetched with one round trip per stage: ``unnest`` of the batch's distinct keys
joined LATERAL to landing.clicks through an index, with a bounded time window and a per-key LIMIT, so
the cost follows the batch size, not the size of landing.clicks.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import polars as pl
import psycopg

from trackai.core import fbc as fbc_rules
from trackai.pipeline import matching
from trackai.pipeline.purchases import ATTRIBUTES, KEY, TRACKING_SESSION_KEYS, approved, fold_conversions
from trackai.settings import MatchSettings, Settings, get_settings

LOCK_KEY = 7_420_100  # pg advisory lock of the micro-batch writer
WATERMARK_NAME = "conversions"
NET_SQL = "network(set_masklen({c}, CASE WHEN family({c}) = 4 THEN 24 ELSE 64 END))"
PER_KEY_LIMIT = 25

CLICK_SELECT = f"""
    c.click_id, c.tenant_id::text AS tenant_id, c.session_id, c.occurred_at, c.landing_url, c.fbclid,
    c.fbc, c.fbp, host(c.client_ip) AS client_ip, {NET_SQL.format(c="c.client_ip")}::text AS client_net,
    c.user_agent, c.external_id, c.utm::text AS utm
"""
CLICK_FRAME_SCHEMA = {  # same order as CLICK_SELECT
    **{k: v for k, v in matching.CLICK_SCHEMA.items() if k not in ("user_agent", "external_id", "utm")},
    "client_net": pl.String,
    "user_agent": pl.String,
    "external_id": pl.String,
    "utm": pl.String,
}
CLICK_COLUMNS = list(CLICK_FRAME_SCHEMA)

CONVERSION_SCHEMA = {
    "conversion_id": pl.Int64,
    "tenant_id": pl.String,
    "gateway": pl.String,
    "order_id": pl.String,
    "status": pl.String,
    "event_time": pl.Datetime("us", "UTC"),
    "amount": pl.String,
    "currency": pl.String,
    "product_id": pl.String,
    "session_id": pl.String,
    "tracking_keys": pl.List(pl.String),
    "fbclid": pl.String,
    "fbc": pl.String,
    "fbp": pl.String,
    "client_ip": pl.String,
    "client_net": pl.String,
    "user_agent": pl.String,
    "email_hash": pl.String,
    "phone_hash": pl.String,
}
# core.purchases columns in COPY order: the fold's key and attributes (client_net is only for matching).
PURCHASE_WRITE_COLUMNS = [
    *KEY,
    "event_id",
    "status",
    "approved_at",
    "partition_date",
    *(c for c in ATTRIBUTES if c != "client_net"),
    "first_conversion_id",
    "last_conversion_id",
]
MATCH_WRITE_COLUMNS = [*matching.MATCH_COLUMNS, "partition_date"]


_DEFAULTS = MatchSettings.model_fields


@dataclass(frozen=True)
class MatchParams:
    """Matching knobs of one run: ``from_settings()`` takes TRACKAI_MATCH_*; Dagster run config overrides."""

    threshold: float = _DEFAULTS["threshold"].default
    semi_window_days: float = 7.0
    probabilistic_window_hours: float = _DEFAULTS["window_hours"].default
    deterministic_lookback_days: float = _DEFAULTS["lookback_days"].default

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MatchParams:
        match = (settings or get_settings()).match
        return cls(
            threshold=match.threshold,
            probabilistic_window_hours=match.window_hours,
            deterministic_lookback_days=match.lookback_days,
        )


@dataclass
class BatchSummary:
    mode: str
    skipped: bool = False
    reason: str | None = None
    watermark_from: int | None = None
    watermark_to: int | None = None
    orders_folded: int = 0
    purchases_processed: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    dedupe_inserted: int = 0
    partitions: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- watermark helpers


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


# --------------------------------------------------------------------------- reads


def _frame(rows: list[tuple], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


ORDERS_INCREMENTAL_SQL = """
    SELECT DISTINCT tenant_id, gateway, order_id FROM landing.conversions
    WHERE conversion_id > %s AND conversion_id <= %s
"""
ORDERS_IN_WINDOW_SQL = """
    SELECT tenant_id, gateway, order_id FROM landing.conversions WHERE event_time >= %s AND event_time < %s
    UNION
    SELECT tenant_id, gateway, order_id FROM core.purchases
    WHERE partition_date >= %s::date AND partition_date < %s::date
"""


def _conversions_for(
    conn: psycopg.Connection, orders_sql: str, orders_params: tuple, upto: int | None
) -> pl.DataFrame:
    """Every conversion (up to ``upto``) of the orders selected by ``orders_sql``, in one round trip."""
    rows = conn.execute(
        f"""
        WITH k AS MATERIALIZED ({orders_sql})
        SELECT c.conversion_id, c.tenant_id::text, c.gateway, c.order_id, c.status, c.event_time,
               c.amount::text, c.currency, c.product_id, c.session_id,
               to_json(ARRAY(SELECT e.value FROM jsonb_each_text(c.tracking) e
                             WHERE e.key = ANY(%s) OR e.key LIKE 'utm\\_%%'))::text AS tracking_keys,
               c.fbclid, c.fbc, c.fbp, host(c.client_ip), {NET_SQL.format(c="c.client_ip")}::text,
               c.user_agent, c.email_hash, c.phone_hash
        FROM k CROSS JOIN LATERAL (
            SELECT * FROM landing.conversions c
            WHERE c.tenant_id = k.tenant_id AND c.gateway = k.gateway AND c.order_id = k.order_id
              AND c.conversion_id <= %s
        ) c
        """,
        (*orders_params, list(TRACKING_SESSION_KEYS), upto if upto is not None else 2**62),
    ).fetchall()
    # tracking_keys arrives as a JSON array (text) and is decoded by Polars: building a list column from
    # 10k Python lists costs ~10x more than the rest of the frame together.
    frame = _frame(rows, {**CONVERSION_SCHEMA, "tracking_keys": pl.String})
    return frame.with_columns(pl.col("tracking_keys").str.json_decode(CONVERSION_SCHEMA["tracking_keys"]))


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


def _grouped_keys(frame: pl.DataFrame, key_col: str, lo: timedelta | None) -> pl.DataFrame:
    """Distinct (tenant_id, key) with the widest [lo, hi] window over the purchases carrying it."""
    keyed = frame.select("tenant_id", pl.col(key_col).alias("key"), "purchase_time").drop_nulls("key")
    lo_expr = (
        pl.col("purchase_time").min() - lo
        if lo is not None
        else pl.col("purchase_time").min() - timedelta(days=3650)
    )
    return keyed.group_by("tenant_id", "key").agg(
        lo_expr.alias("lo"), (pl.col("purchase_time").max() + matching.CLOCK_SKEW).alias("hi")
    )


def _lateral_clicks(conn: psycopg.Connection, lookups: list[tuple[str, pl.DataFrame]]) -> pl.DataFrame:
    """One round trip: for each (column, keys frame) an index-backed LATERAL lookup, UNION ALL."""
    parts, params = [], []
    for column, keys in lookups:
        if keys.is_empty():
            continue
        target = NET_SQL.format(c="c.client_ip") if column == "client_net" else f"c.{column}"
        cast = "::cidr" if column == "client_net" else ""
        parts.append(
            f"""
            SELECT {CLICK_SELECT}
            FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::timestamptz[]) AS k(tenant_id, key, lo, hi)
            CROSS JOIN LATERAL (
                SELECT * FROM landing.clicks c
                WHERE c.tenant_id = k.tenant_id AND {target} = k.key{cast}
                  AND c.occurred_at >= k.lo AND c.occurred_at <= k.hi
                ORDER BY c.occurred_at DESC
                LIMIT {PER_KEY_LIMIT}
            ) c
            """
        )
        params += [
            pg_array(keys["tenant_id"]),
            pg_array(keys["key"]),
            pg_array(keys["lo"]),
            pg_array(keys["hi"]),
        ]
    if not parts:
        return pl.DataFrame(schema=CLICK_FRAME_SCHEMA)
    rows = conn.execute(" UNION ALL ".join(parts), params).fetchall()
    return _frame(rows, CLICK_FRAME_SCHEMA).unique(subset="click_id", keep="first")


def _identities_for(conn: psycopg.Connection, purchases: pl.DataFrame) -> pl.DataFrame:
    parts, params = [], []
    for column in ("email_hash", "phone_hash"):
        keys = _grouped_keys(purchases, column, None)
        if keys.is_empty():
            continue
        parts.append(
            f"""
            SELECT i.tenant_id::text, i.session_id, i.email_hash, i.phone_hash, i.seen_at
            FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[]) AS k(tenant_id, key, hi)
            CROSS JOIN LATERAL (
                SELECT * FROM landing.identities i
                WHERE i.tenant_id = k.tenant_id AND i.{column} = k.key AND i.seen_at <= k.hi
                ORDER BY i.seen_at DESC
                LIMIT {PER_KEY_LIMIT}
            ) i
            """
        )
        params += [pg_array(keys["tenant_id"]), pg_array(keys["key"]), pg_array(keys["hi"])]
    if not parts:
        return pl.DataFrame(schema=matching.IDENTITY_SCHEMA)
    rows = conn.execute(" UNION ALL ".join(parts), params).fetchall()
    return _frame(rows, matching.IDENTITY_SCHEMA)


# --------------------------------------------------------------------------- matching with I/O


def match_batch(
    conn: psycopg.Connection, purchases: pl.DataFrame, settings: MatchParams, timings: dict | None = None
) -> pl.DataFrame:
    """Fetch candidates stage by stage (only for purchases still unmatched) and pick the best match."""
    timings = timings if timings is not None else {}
    if purchases.is_empty():
        return matching.enrich(
            matching.best_matches(pl.DataFrame()), pl.DataFrame(schema=matching.CLICK_SCHEMA)
        )
    lookback = timedelta(days=settings.deterministic_lookback_days)
    semi_window = timedelta(days=settings.semi_window_days)
    prob_window = timedelta(hours=settings.probabilistic_window_hours)
    key = ["tenant_id", "gateway", "order_id"]

    t0 = time.perf_counter()
    identities = _identities_for(conn, purchases)
    session_parts = [
        purchases.select("tenant_id", "purchase_time", pl.col("session_keys").alias("s")).explode("s")
    ]
    for column in ("email_hash", "phone_hash"):
        session_parts.append(
            purchases.select("tenant_id", "purchase_time", column)
            .drop_nulls(column)
            .join(
                identities.select("tenant_id", column, pl.col("session_id").alias("s")).drop_nulls(column),
                on=["tenant_id", column],
            )
            .select("tenant_id", "purchase_time", "s")
        )
    sessions = pl.concat(session_parts)
    clicks = _lateral_clicks(conn, [("session_id", _grouped_keys(sessions, "s", lookback))])
    det = matching.best_matches(matching.deterministic_candidates(purchases, clicks, identities, lookback))
    timings["deterministic"] = round((time.perf_counter() - t0) * 1000, 1)

    t0 = time.perf_counter()
    rest = purchases.join(det.select(key), on=key, how="anti")
    if not rest.is_empty():
        fb = rest.with_columns(
            pl.col("fbc").map_elements(fbc_rules.fbclid_from_fbc, return_dtype=pl.String).alias("fbc_fbclid")
        )
        fbclids = pl.concat(
            [fb.select("tenant_id", "purchase_time", pl.col(c).alias("k")) for c in ("fbclid", "fbc_fbclid")]
        )
        semi_clicks = _lateral_clicks(
            conn,
            [
                ("fbc", _grouped_keys(fb, "fbc", semi_window)),
                ("fbclid", _grouped_keys(fbclids, "k", semi_window)),
            ],
        )
        clicks = pl.concat([clicks, semi_clicks]).unique(subset="click_id", keep="first")
        semi = matching.best_matches(matching.semi_deterministic_candidates(rest, semi_clicks, semi_window))
        rest = rest.join(semi.select(key), on=key, how="anti")
    timings["semi_deterministic"] = round((time.perf_counter() - t0) * 1000, 1)

    t0 = time.perf_counter()
    if not rest.is_empty():
        net_clicks = _lateral_clicks(conn, [("client_net", _grouped_keys(rest, "client_net", prob_window))])
        clicks = pl.concat([clicks, net_clicks]).unique(subset="click_id", keep="first")
    timings["probabilistic"] = round((time.perf_counter() - t0) * 1000, 1)

    t0 = time.perf_counter()
    result = matching.match_purchases(
        purchases,
        clicks,
        identities,
        threshold=settings.threshold,
        semi_window=semi_window,
        probabilistic_window=prob_window,
        deterministic_lookback=lookback,
    )
    timings["combine"] = round((time.perf_counter() - t0) * 1000, 1)
    return result


# --------------------------------------------------------------------------- writes


def _copy_rows(conn: psycopg.Connection, table: str, columns: list[str], frame: pl.DataFrame) -> None:
    """COPY a frame as CSV (Polars writes it; far cheaper than a Python loop per row). Lists -> arrays."""
    out = frame.select(columns).with_columns(
        [
            (pl.lit("{") + pl.col(c).list.join(",") + pl.lit("}")).alias(c)
            for c, dtype in frame.select(columns).schema.items()
            if isinstance(dtype, pl.List)
        ]
    )
    buf = io.BytesIO()
    out.write_csv(buf, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z", null_value="")
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getvalue())


def _write_purchases(conn: psycopg.Connection, folded: pl.DataFrame) -> None:
    conn.execute("CREATE TEMP TABLE tmp_purchases (LIKE core.purchases INCLUDING DEFAULTS) ON COMMIT DROP")
    _copy_rows(conn, "tmp_purchases", PURCHASE_WRITE_COLUMNS, folded)
    _upsert_changed(conn, "core.purchases", "tmp_purchases", PURCHASE_WRITE_COLUMNS, stamp="updated_at")


def _write_matches(conn: psycopg.Connection, matches: pl.DataFrame) -> None:
    """Replace the matches of every purchase in tmp_purchases (upsert changed rows, delete stale ones)."""
    conn.execute("CREATE TEMP TABLE tmp_matches (LIKE core.matches INCLUDING DEFAULTS) ON COMMIT DROP")
    _copy_rows(conn, "tmp_matches", MATCH_WRITE_COLUMNS, matches)
    conn.execute(
        """
        DELETE FROM core.matches m USING tmp_purchases t
        WHERE m.tenant_id = t.tenant_id AND m.gateway = t.gateway AND m.order_id = t.order_id
          AND NOT EXISTS (SELECT 1 FROM tmp_matches n WHERE n.tenant_id = m.tenant_id
                          AND n.gateway = m.gateway AND n.order_id = m.order_id)
        """
    )
    _upsert_changed(conn, "core.matches", "tmp_matches", MATCH_WRITE_COLUMNS, stamp="matched_at")


def _upsert_changed(
    conn: psycopg.Connection, table: str, staged: str, columns: list[str] | tuple[str, ...], *, stamp: str
) -> None:
    """Insert the staged rows keyed by (tenant_id, gateway, order_id); update only rows whose values
    changed, so a recompute of an unchanged day writes nothing and keeps ``stamp``."""
    updatable = [c for c in columns if c not in ("tenant_id", "gateway", "order_id")]
    cols = ", ".join(columns)
    conn.execute(
        f"""
        INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {staged}
        ON CONFLICT (tenant_id, gateway, order_id) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in updatable)}, {stamp} = now()
        WHERE ({", ".join(f"t.{c}" for c in updatable)})
              IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in updatable)})
        """
    )


def _write_dedupe(conn: psycopg.Connection) -> int:
    cur = conn.execute(
        """
        INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
        SELECT event_id, tenant_id, gateway, order_id, 'Purchase' FROM tmp_purchases
        WHERE approved_at IS NOT NULL
        ON CONFLICT (event_id) DO NOTHING
        """
    )
    return cur.rowcount


def _advance_watermark(conn: psycopg.Connection, value: int) -> None:
    conn.execute(
        """
        INSERT INTO ops.pipeline_watermarks AS w (name, value) VALUES (%s, %s)
        ON CONFLICT (name) DO UPDATE SET value = GREATEST(w.value, EXCLUDED.value), updated_at = now()
        """,
        (WATERMARK_NAME, value),
    )


# --------------------------------------------------------------------------- the batch


def run_batch(
    url: str,
    *,
    mode: str,
    upto: int | None = None,
    window: tuple[datetime, datetime] | None = None,
    settings: MatchParams | None = None,
) -> BatchSummary:
    """Run one micro-batch (see module docstring). ``upto`` bounds incremental mode (default: latest)."""
    if mode not in ("incremental", "recompute"):
        raise ValueError(f"unknown mode {mode!r}")
    settings = settings or MatchParams.from_settings()
    summary = BatchSummary(mode=mode)
    timings = summary.timings_ms
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        # Safe: results and watermark commit atomically, so a commit lost in a crash is simply redone, and
        # dispatch's later (synchronous) commit flushes this one's WAL before anything is sent.
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        if mode == "incremental":
            after = stored_watermark(conn)
            upto = latest_conversion_id(conn) if upto is None else upto
            summary.watermark_from, summary.watermark_to = after, upto
            if upto <= after:
                summary.skipped, summary.reason = True, f"already processed up to conversion {after}"
                return summary
            orders_sql, orders_params = ORDERS_INCREMENTAL_SQL, (after, upto)
        else:
            if window is None:
                raise ValueError("recompute mode needs a time window")
            start, end = window
            orders_sql, orders_params = ORDERS_IN_WINDOW_SQL, (start, end, start.date(), end.date())
        t0 = time.perf_counter()
        conversions = _conversions_for(
            conn, orders_sql, orders_params, upto if mode == "incremental" else None
        )
        timings["fetch_conversions"] = round((time.perf_counter() - t0) * 1000, 1)
        if conversions.is_empty():
            if mode == "incremental" and upto is not None:
                _advance_watermark(conn, upto)
            summary.reason = "no orders to process"
            return summary
        folded = fold_conversions(conversions)
        timings["fold"] = round((time.perf_counter() - t0) * 1000, 1)
        summary.orders_folded = folded.height
        buyers = approved(folded)
        summary.purchases_processed = buyers.height
        matches = match_batch(conn, buyers, settings, timings)
        matches = matches.join(
            buyers.select("tenant_id", "gateway", "order_id", "partition_date"),
            on=["tenant_id", "gateway", "order_id"],
            how="left",
        )
        counts = matching.stage_counts(matches, buyers.height)
        summary.unmatched = counts.pop("unmatched")
        summary.matched = counts
        summary.partitions = sorted({d.isoformat() for d in folded["partition_date"].to_list()})
        t0 = time.perf_counter()
        _write_purchases(conn, folded)
        timings["write_purchases"] = round((time.perf_counter() - t0) * 1000, 1)
        t1 = time.perf_counter()
        _write_matches(conn, matches)
        timings["write_matches"] = round((time.perf_counter() - t1) * 1000, 1)
        summary.dedupe_inserted = _write_dedupe(conn)
        if mode == "incremental" and upto is not None:
            _advance_watermark(conn, upto)
        timings["write"] = round((time.perf_counter() - t0) * 1000, 1)
    timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    return summary
