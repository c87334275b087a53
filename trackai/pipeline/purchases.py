"""Fold landing.conversions into the current state of each order (pure Polars; unit-tested).

Rules: rows are applied in conversion_id order per (tenant_id, gateway, order_id); ``status`` is the
latest; ``approved_at`` is the event_time of the first approved row (the purchase time; refunds and
chargebacks change the status only); ``partition_date`` is the UTC date of approved_at, or of the first
event_time when the order was never approved; other attributes take their latest non-null value;
``session_keys`` collects every snippet-shaped session id (``trackai.core.session_id``) the checkout
carried — never a utm_* value or a gateway default such as ``HOTMART_PRODUCT_PAGE``. ``event_id`` is
``trackai.core.event_id.event_id(tenant_id, order_id, "Purchase")``.
"""

from __future__ import annotations

import polars as pl

from trackai.core import customer
from trackai.core import session_id as session_rule
from trackai.core.event_id import event_id

KEY = ["tenant_id", "gateway", "order_id"]
ATTRIBUTES = [
    "amount",
    "currency",
    "product_id",
    "session_id",
    "fbclid",
    "fbc",
    "fbp",
    "client_ip",
    "client_net",
    "user_agent",
    "email_hash",
    "phone_hash",
    *customer.COLUMNS.values(),  # fn_hash ... ge_hash (sql/0910)
]
# Keys of landing.conversions.tracking that may carry the landing session id through a checkout (plus utm_*,
# selected in SQL by trackai.pipeline.candidates); only values shaped like a session id are kept.
TRACKING_SESSION_KEYS = ("src", "sck", "xcod", "client_reference_id", "session_id", "sid")


def fold_conversions(conversions: pl.DataFrame) -> pl.DataFrame:
    """One row per order from its conversions (needs columns KEY, conversion_id, status, event_time,
    ATTRIBUTES present in the frame, and ``tracking_keys`` list[str])."""
    attrs = [c for c in ATTRIBUTES if c in conversions.columns]
    # A session_id that is not snippet-shaped (a gateway default landed before adapters checked the shape)
    # is no session: it would join clicks and give unrelated buyers the same external_id.
    ordered = conversions.sort("conversion_id").with_columns(
        pl.when(pl.col("session_id").str.contains(session_rule.PATTERN)).then(pl.col("session_id"))
    )
    approved_time = pl.col("event_time").filter(pl.col("status") == "approved").first()
    folded = ordered.group_by(KEY, maintain_order=True).agg(
        pl.col("status").last(),
        approved_time.alias("approved_at"),
        pl.col("event_time").first().alias("first_event_time"),
        pl.col("conversion_id").min().alias("first_conversion_id"),
        pl.col("conversion_id").max().alias("last_conversion_id"),
        *[pl.col(c).drop_nulls().last().alias(c) for c in attrs],
        pl.concat_list(pl.col("session_id"), pl.col("tracking_keys"))
        .list.eval(pl.element().filter(pl.element().str.contains(session_rule.PATTERN)))
        .list.explode(keep_nulls=False, empty_as_null=False)
        .drop_nulls()
        .unique(maintain_order=True)
        .alias("session_keys"),
    )
    return folded.with_columns(
        pl.coalesce("approved_at", "first_event_time")
        .dt.convert_time_zone("UTC")
        .dt.date()
        .alias("partition_date"),
        pl.struct("tenant_id", "order_id")
        .map_elements(lambda r: event_id(r["tenant_id"], r["order_id"], "Purchase"), return_dtype=pl.String)
        .alias("event_id"),
    ).drop("first_event_time")


def approved(purchases: pl.DataFrame) -> pl.DataFrame:
    """Purchases that were ever approved, with ``purchase_time`` = approved_at (the matching input)."""
    return purchases.filter(pl.col("approved_at").is_not_null()).with_columns(
        pl.col("approved_at").alias("purchase_time")
    )
