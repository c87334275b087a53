"""The micro-batch's reads: the conversions of the orders to fold, and candidate clicks/identities per stage.

Candidate clicks are fetched with one round trip per stage: ``unnest`` of the batch's distinct keys
joined LATERAL to landing.clicks through an index, with a bounded time window and a per-key LIMIT, so
the cost follows the batch size, not the size of landing.clicks. Only snippet-shaped session ids are
looked up (``trackai.core.session_id``); the network key is ``core.network_key`` (``trackai.core.network``),
the expression the lookup index is built on. The probabilistic stage also reads how crowded each network
was (``network_clicks``: up to NET_LIMIT clicks per network and 15 minutes of purchases, with the horizon
where a lookup was cut) and how common each user agent is (``ua_sample``: the tenant's UA_SAMPLE most recent
clicks, index tenant_id + occurred_at).
"""

from __future__ import annotations

import time
from datetime import timedelta

import polars as pl
import psycopg

from trackai.core import customer, network
from trackai.core import fbc as fbc_rules
from trackai.pipeline import ambiguity, matching
from trackai.pipeline.frames import frame, pg_array
from trackai.pipeline.params import MatchParams
from trackai.pipeline.purchases import TRACKING_SESSION_KEYS

PER_KEY_LIMIT = 25
# Probabilistic stage: clicks per network and 15-minute bucket of purchase times; a network with more in
# the window is crowded, and the ambiguity measure scales what it saw to the window (``horizons``).
NET_LIMIT = 400
NET_BUCKET = "15m"
# The user-agent shares are measured on the tenant's most recent clicks in the window.
UA_SAMPLE = 1000
PURCHASE_KEY = ["tenant_id", "gateway", "order_id"]

CLICK_SELECT = f"""
    c.click_id, c.tenant_id::text AS tenant_id, c.session_id, c.occurred_at, c.landing_url, c.fbclid,
    c.fbc, c.fbp, host(c.client_ip) AS client_ip, {network.sql_key("c.client_ip")}::text AS client_net,
    c.user_agent, c.external_id, c.utm::text AS utm
"""
CLICK_FRAME_SCHEMA = {  # same order as CLICK_SELECT
    **{k: v for k, v in matching.CLICK_SCHEMA.items() if k not in ("user_agent", "external_id", "utm")},
    "client_net": pl.String,
    "user_agent": pl.String,
    "external_id": pl.String,
    "utm": pl.String,
}

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
    **{column: pl.String for column in customer.COLUMNS.values()},
}

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


def conversions_for(
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
               c.fbclid, c.fbc, c.fbp, host(c.client_ip), {network.sql_key("c.client_ip")}::text,
               c.user_agent, c.email_hash, c.phone_hash,
               {", ".join(f"c.{column}" for column in customer.COLUMNS.values())}
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
    out = frame(rows, {**CONVERSION_SCHEMA, "tracking_keys": pl.String})
    return out.with_columns(pl.col("tracking_keys").str.json_decode(CONVERSION_SCHEMA["tracking_keys"]))


def grouped_keys(rows: pl.DataFrame, key_col: str, lo: timedelta | None) -> pl.DataFrame:
    """Distinct (tenant_id, key) with the widest [lo, hi] window over the purchases carrying it."""
    keyed = rows.select("tenant_id", pl.col(key_col).alias("key"), "purchase_time").drop_nulls("key")
    lo_expr = (
        pl.col("purchase_time").min() - lo
        if lo is not None
        else pl.col("purchase_time").min() - timedelta(days=3650)
    )
    return keyed.group_by("tenant_id", "key").agg(
        lo_expr.alias("lo"), (pl.col("purchase_time").max() + matching.CLOCK_SKEW).alias("hi")
    )


def lateral_clicks(
    conn: psycopg.Connection, lookups: list[tuple[str, pl.DataFrame]], limit: int = PER_KEY_LIMIT
) -> pl.DataFrame:
    """One round trip: for each (column, keys frame) an index-backed LATERAL lookup (the ``limit`` most
    recent clicks per key in its [lo, hi]), UNION ALL."""
    parts, params = [], []
    for column, keys in lookups:
        if keys.is_empty():
            continue
        target = network.sql_key("c.client_ip") if column == "client_net" else f"c.{column}"
        cast = "::cidr" if column == "client_net" else ""
        parts.append(
            f"""
            SELECT {CLICK_SELECT}
            FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::timestamptz[]) AS k(tenant_id, key, lo, hi)
            CROSS JOIN LATERAL (
                SELECT * FROM landing.clicks c
                WHERE c.tenant_id = k.tenant_id AND {target} = k.key{cast}
                  AND c.occurred_at >= k.lo AND c.occurred_at <= k.hi
                  AND c.bot_reason IS NULL  -- bot clicks are kept but never matched (issue 23)
                ORDER BY c.occurred_at DESC
                LIMIT {limit}
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
    return frame(rows, CLICK_FRAME_SCHEMA).unique(subset="click_id", keep="first")


def network_clicks(
    conn: psycopg.Connection, purchases: pl.DataFrame, window: timedelta
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The probabilistic stage's candidates: up to NET_LIMIT clicks per (network, NET_BUCKET of purchase
    times) in [purchase - window, purchase + clock skew], and per purchase whose lookup hit the limit the
    ``horizon`` (the oldest click it fetched): the crowd beyond it is estimated, not seen."""
    keys = (
        purchases.drop_nulls("client_net")
        .with_columns(pl.col("purchase_time").dt.truncate(NET_BUCKET).alias("bucket"))
        .group_by("tenant_id", pl.col("client_net").alias("key"), "bucket")
        .agg(
            (pl.col("purchase_time").min() - window).alias("lo"),
            (pl.col("purchase_time").max() + matching.CLOCK_SKEW).alias("hi"),
        )
    )
    clicks = lateral_clicks(conn, [("client_net", keys)], limit=NET_LIMIT)
    # A lookup was cut iff the fetched clicks inside its own window reach the limit (clicks another lookup
    # added there are ones it fetched too); its horizon is then its NET_LIMIT-th most recent click.
    cut = (
        keys.join(
            clicks.select("tenant_id", pl.col("client_net").alias("key"), "occurred_at"),
            on=["tenant_id", "key"],
        )
        .filter(pl.col("occurred_at").is_between(pl.col("lo"), pl.col("hi")))
        .group_by("tenant_id", "key", "bucket")
        .agg(pl.col("occurred_at").sort(descending=True).head(NET_LIMIT).alias("seen"))
        .filter(pl.col("seen").list.len() >= NET_LIMIT)
        .select("tenant_id", "key", "bucket", pl.col("seen").list.last().alias("horizon"))
    )
    horizons = (
        purchases.drop_nulls("client_net")
        .with_columns(pl.col("purchase_time").dt.truncate(NET_BUCKET).alias("bucket"))
        .join(cut, left_on=["tenant_id", "client_net", "bucket"], right_on=["tenant_id", "key", "bucket"])
        .select(*PURCHASE_KEY, "horizon")
    )
    return clicks, horizons


def ua_sample(conn: psycopg.Connection, purchases: pl.DataFrame, window: timedelta) -> pl.DataFrame:
    """Distinct visitors per exact user agent and in total (``ambiguity.SHARE_SCHEMA``) among each tenant's
    UA_SAMPLE most recent clicks in the window before its latest purchase (index: tenant, occurred_at)."""
    tenants = purchases.group_by("tenant_id").agg(
        (pl.col("purchase_time").max() + matching.CLOCK_SKEW).alias("hi")
    )
    if tenants.is_empty():
        return pl.DataFrame(schema=ambiguity.SHARE_SCHEMA)
    rows = conn.execute(
        f"""
        SELECT k.tenant_id::text, s.user_agent, count(DISTINCT s.session_id), GROUPING(s.user_agent)
        FROM unnest(%s::uuid[], %s::timestamptz[]) AS k(tenant_id, hi)
        CROSS JOIN LATERAL (
            SELECT c.user_agent, c.session_id FROM landing.clicks c
            WHERE c.tenant_id = k.tenant_id AND c.occurred_at >= k.hi - %s AND c.occurred_at <= k.hi
              AND c.bot_reason IS NULL
            ORDER BY c.occurred_at DESC
            LIMIT {UA_SAMPLE}
        ) s
        GROUP BY GROUPING SETS ((k.tenant_id, s.user_agent), (k.tenant_id))
        """,
        (pg_array(tenants["tenant_id"]), pg_array(tenants["hi"]), window + matching.CLOCK_SKEW),
    ).fetchall()
    counted = frame(
        rows, {"tenant_id": pl.String, "user_agent": pl.String, "visitors": pl.Int64, "is_total": pl.Int32}
    )
    totals = counted.filter(pl.col("is_total") == 1).select("tenant_id", pl.col("visitors").alias("total"))
    per_ua = counted.filter((pl.col("is_total") == 0) & pl.col("user_agent").is_not_null())
    return per_ua.join(totals, on="tenant_id").select(list(ambiguity.SHARE_SCHEMA))


def identities_for(conn: psycopg.Connection, purchases: pl.DataFrame) -> pl.DataFrame:
    """Lead identities (email/phone hash captured for a session) seen at or before each purchase."""
    parts, params = [], []
    for column in ("email_hash", "phone_hash"):
        keys = grouped_keys(purchases, column, None)
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
    return frame(rows, matching.IDENTITY_SCHEMA)


def _session_lookups(purchases: pl.DataFrame, identities: pl.DataFrame) -> pl.DataFrame:
    """(tenant_id, purchase_time, s): the snippet-shaped sessions whose clicks may match — the checkout's
    session keys and the sessions of lead identities with the purchase's email/phone."""
    parts = [purchases.select("tenant_id", "purchase_time", pl.col("session_keys").alias("s")).explode("s")]
    for column in ("email_hash", "phone_hash"):
        parts.append(
            purchases.select("tenant_id", "purchase_time", column)
            .drop_nulls(column)
            .join(
                identities.select("tenant_id", column, pl.col("session_id").alias("s")).drop_nulls(column),
                on=["tenant_id", column],
            )
            .select("tenant_id", "purchase_time", "s")
        )
    return pl.concat(parts).filter(matching.is_session_id_expr("s"))


def _elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def match_batch(
    conn: psycopg.Connection, purchases: pl.DataFrame, settings: MatchParams, timings: dict | None = None
) -> pl.DataFrame:
    """Fetch candidates stage by stage (only for purchases still unmatched) and decide: the best match per
    purchase, or the probabilistic stage's abstention (``matching.decide``)."""
    timings = timings if timings is not None else {}
    if purchases.is_empty():
        return matching.decide(purchases, pl.DataFrame(schema=matching.CLICK_SCHEMA), pl.DataFrame())
    lookback = timedelta(days=settings.deterministic_lookback_days)
    semi_window = timedelta(days=settings.semi_window_days)
    prob_window = timedelta(hours=settings.probabilistic_window_hours)

    t0 = time.perf_counter()
    identities = identities_for(conn, purchases)
    sessions = _session_lookups(purchases, identities)
    clicks = lateral_clicks(conn, [("session_id", grouped_keys(sessions, "s", lookback))])
    det = matching.best_matches(matching.deterministic_candidates(purchases, clicks, lookback=lookback))
    timings["deterministic"] = _elapsed_ms(t0)

    t0 = time.perf_counter()
    rest = purchases.join(det.select(PURCHASE_KEY), on=PURCHASE_KEY, how="anti")
    if not rest.is_empty():
        fb = rest.with_columns(
            pl.col("fbc").map_elements(fbc_rules.fbclid_from_fbc, return_dtype=pl.String).alias("fbc_fbclid")
        )
        fbclids = pl.concat(
            [fb.select("tenant_id", "purchase_time", pl.col(c).alias("k")) for c in ("fbclid", "fbc_fbclid")]
        )
        semi_clicks = lateral_clicks(
            conn,
            [
                ("fbc", grouped_keys(fb, "fbc", semi_window)),
                ("fbclid", grouped_keys(fbclids, "k", semi_window)),
            ],
        )
        clicks = pl.concat([clicks, semi_clicks]).unique(subset="click_id", keep="first")
        semi = matching.best_matches(
            pl.concat(
                [
                    matching.semi_deterministic_candidates(rest, semi_clicks, semi_window),
                    matching.identity_candidates(rest, clicks, identities, lookback),
                ]
            )
        )
        rest = rest.join(semi.select(PURCHASE_KEY), on=PURCHASE_KEY, how="anti")
    timings["semi_deterministic"] = _elapsed_ms(t0)

    t0 = time.perf_counter()
    shares, horizons = None, None
    if not rest.is_empty():
        net_clicks, horizons = network_clicks(conn, rest, prob_window)
        clicks = pl.concat([clicks, net_clicks]).unique(subset="click_id", keep="first")
        shares = ua_sample(conn, rest.drop_nulls("client_net"), prob_window)
    timings["probabilistic"] = _elapsed_ms(t0)

    t0 = time.perf_counter()
    result = matching.decide(
        purchases,
        clicks,
        identities,
        threshold=settings.threshold,
        semi_window=semi_window,
        probabilistic_window=prob_window,
        deterministic_lookback=lookback,
        ua_shares=shares,
        horizons=horizons,
    )
    timings["combine"] = _elapsed_ms(t0)
    return result
