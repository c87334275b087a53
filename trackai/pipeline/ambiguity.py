"""The probabilistic stage's decision: how likely is each candidate visitor to be the buyer, and when to
abstain. Pure Polars; ``trackai.pipeline.matching`` builds the (purchase, click) pairs and calls ``decide``.

The question is asked of **visitors** (a landing session), not clicks, and against the possibility that the
buyer is none of them (an organic buyer, or an ad buyer on another device or network). For a purchase and
each candidate visitor ``v`` on its network in the window, a weight

    w_v = ODDS_AD * P(address | v bought) * LR_ua * LR_time / crowd_v

compares "v bought" with "someone else bought" (weight 1: the buyer is none of the candidates), and the
**confidence** of the best visitor is ``w_best / (1 + sum of all w)``. Each factor is measured from the data:

- ``crowd_v``: how many distinct visitors (sessions) other than ``v`` shared the unit ``v`` matched on
  within the window — the exact IPv4 address, or its /24 when the address differs, or the /64 for IPv6 —
  plus ``UNSEEN_CO_USERS`` for the people behind it we never see as visitors (a household). On a
  carrier's NAT address that is hundreds of phones, so matching on it says almost nothing; at home it is
  one visitor and his household. When the candidate fetch was cut by its per-network limit, the
  visitors seen are scaled up to the window (``horizon``: the oldest click fetched).
- ``P(address | v bought)``: the buyer checks out from the IPv4 address he landed from
  (``P_SAME_ADDRESS_V4``), from another address of the same /24 (``P_ROTATED_V4``: carrier NAT rotation),
  or from the same IPv6 /64 (``P_SAME_NET_V6``: a /64 is one subscriber, a strong signal).
- ``LR_ua``: an identical user agent counts by its **rarity** — ``P_SAME_UA / share``, the share of the
  tenant's recent visitors with that exact string (Chrome's reduced Android UA and frozen iOS Safari UAs
  are shared by a large part of the audience; an in-app browser string with device model and app version
  is not). Another string of the same platform (android/ios/other) counts ``P_SAME_PLATFORM`` over the
  share of such visitors (an in-app page opened in the phone's browser), another platform
  ``P_OTHER_PLATFORM`` over the rest (another device); a missing one is neutral.
- ``LR_time``: the click -> purchase delay of buyers (``FAST_SHARE`` buy within about ``FAST_MINUTES``, the
  rest at any time in the window) over the flat delay of a visitor unrelated to the purchase.
- A visitor whose click carried an fbclid other than the one the purchase carried is not the buyer
  (weight 0): the purchase's own data wins.

The margin to the runner-up is in the formula: two equally plausible visitors each get less than one half.
Below ``threshold`` the stage abstains and says why (``REASONS``), with the evidence. The constants are
prior beliefs about buyers, stated once here and in docs/matching.md; they were not fitted to the
simulator (trackai_cli/eval_matching), which draws its own distributions.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

PURCHASE_KEY = ["tenant_id", "gateway", "order_id"]

ODDS_AD = 1.0  # prior odds that a purchase comes from one of the landing's visitors rather than elsewhere
P_SAME_ADDRESS_V4 = 0.6
P_ROTATED_V4 = 0.15
P_SAME_NET_V6 = 0.8
# The checkout's browser vs the landing's, for the same person: the same string, another browser on the
# same platform (an in-app page opened in the phone's browser), another platform (another device).
P_SAME_UA = 0.8
P_SAME_PLATFORM = 0.17
P_OTHER_PLATFORM = 0.03
MIN_UA_SHARE = 0.002  # no exact user agent counts as rarer than 1 visitor in 500
# People behind an address that we never see as visitors (a household, organic buyers), in visitors; a
# candidate on another IPv4 address of the /24 shares it with the unseen people of every address there.
UNSEEN_CO_USERS = 0.5
ADDRESSES_PER_V4_NETWORK = 254
# A launch crowds an address in bursts: the visitors of the last RECENT before the purchase, at their rate
# over the whole window, count when they exceed the window's own count.
RECENT = timedelta(minutes=60)
FAST_SHARE = 0.5
FAST_MINUTES = 60.0
# Abstention reasons, in the order they are tested.
CROWD_VISITORS = 5  # visitors on the matched unit from which "shared_address" explains a low confidence
COMMON_UA_SHARE = 0.05  # a user agent of at least this share of the tenant's visitors is "common"
REASONS = ("fbclid_conflict", "close_runner_up", "shared_address", "common_user_agent", "weak_evidence")

PAIR_SCHEMA = {
    "tenant_id": pl.String,
    "gateway": pl.String,
    "order_id": pl.String,
    "purchase_time": pl.Datetime("us", "UTC"),
    "p_ip": pl.String,
    "p_ua": pl.String,
    "p_fbclid": pl.String,
    "horizon": pl.Datetime("us", "UTC"),
    "click_id": pl.Int64,
    "occurred_at": pl.Datetime("us", "UTC"),
    "session_id": pl.String,
    "c_ip": pl.String,
    "c_ua": pl.String,
    "c_fbclid": pl.String,
}
SHARE_SCHEMA = {"tenant_id": pl.String, "user_agent": pl.String, "visitors": pl.Int64, "total": pl.Int64}
ACCEPTED_SCHEMA = {
    **{k: pl.String for k in PURCHASE_KEY},
    "click_id": pl.Int64,
    "occurred_at": pl.Datetime("us", "UTC"),
    "purchase_time": pl.Datetime("us", "UTC"),
    "confidence": pl.Float64,
    "key": pl.String,
    "evidence": pl.String,
}
ABSTAINED_SCHEMA = {
    **{k: pl.String for k in PURCHASE_KEY},
    "abstain_reason": pl.String,
    "evidence": pl.String,
}


def ua_shares(clicks: pl.DataFrame) -> pl.DataFrame:
    """Distinct visitors per exact user agent and in total, per tenant (``SHARE_SCHEMA``), from clicks with
    tenant_id, session_id and user_agent (the engine samples them from the tenant's recent traffic)."""
    per_ua = (
        clicks.filter(pl.col("user_agent").is_not_null())
        .group_by("tenant_id", "user_agent")
        .agg(pl.col("session_id").n_unique().cast(pl.Int64).alias("visitors"))
    )
    totals = clicks.group_by("tenant_id").agg(pl.col("session_id").n_unique().cast(pl.Int64).alias("total"))
    return per_ua.join(totals, on="tenant_id").select(list(SHARE_SCHEMA))


def platform_expr(col: str) -> pl.Expr:
    """android / ios / other: the platform a user-agent string names (null stays null)."""
    ua = pl.col(col)
    return (
        pl.when(ua.is_null())
        .then(pl.lit(None, pl.String))
        .when(ua.str.contains("Android"))
        .then(pl.lit("android"))
        .when(ua.str.contains("iPhone|iPad|iPod"))
        .then(pl.lit("ios"))
        .otherwise(pl.lit("other"))
    )


def _crowd(pairs: pl.DataFrame, span: timedelta, skew: timedelta, suffix: str) -> pl.DataFrame:
    """Per purchase (``pid``), distinct visitors on its network and on its exact address in [purchase -
    span, purchase + skew], and the network's visitors per address seen. When the per-network fetch was
    cut (``horizon``), what it saw of the span is scaled up to the span, with one more visitor than seen,
    so a view of minutes is never read as "empty"."""
    full_s = (span + skew).total_seconds()
    lo = pl.max_horizontal(pl.col("purchase_time") - span, pl.col("horizon"))
    seen = pl.col("occurred_at") >= lo
    counted = pairs.group_by("pid").agg(
        pl.col("vid").filter(seen).n_unique().alias("net"),
        pl.col("vid").filter(seen & pl.col("exact")).n_unique().alias("addr"),
        pl.col("c_ip").filter(seen).n_unique().alias("addresses"),
        (pl.col("purchase_time") + skew - lo).dt.total_seconds().first().clip(60, full_s).alias("seen_s"),
        pl.col("horizon").is_not_null().first().cast(pl.Int64).alias("unseen"),
    )
    scale = full_s / pl.col("seen_s")
    return counted.select(
        "pid",
        ((pl.col("net") + pl.col("unseen")) * scale).alias(f"visitors_network{suffix}"),
        ((pl.col("addr") + pl.col("unseen")) * scale).alias(f"visitors_address{suffix}"),
        (pl.col("net") / pl.col("addresses").clip(1, None)).alias(f"per_address{suffix}"),
    )


def _unit(network: pl.Expr, suffix: str) -> pl.Expr:
    """Visitors on the unit a candidate matched on: its network (IPv6, or another IPv4 of the /24) or the
    purchase's exact address."""
    return (
        pl.when(network)
        .then(pl.col(f"visitors_network{suffix}"))
        .otherwise(pl.col(f"visitors_address{suffix}"))
    )


def _time_lr(window: timedelta) -> pl.Expr:
    minutes = (pl.col("purchase_time") - pl.col("occurred_at")).dt.total_seconds().clip(0, None) / 60.0
    window_min = window.total_seconds() / 60.0
    return FAST_SHARE * (window_min / FAST_MINUTES) * (-minutes / FAST_MINUTES).exp() + (1 - FAST_SHARE)


def _purchase_terms(
    pairs: pl.DataFrame, shares: pl.DataFrame, window: timedelta, skew: timedelta
) -> pl.DataFrame:
    """One row per purchase: its crowd counts and the shares of its user agent and of its platform."""
    crowd = _crowd(pairs, window, skew, "").join(_crowd(pairs, RECENT, skew, "_recent"), on="pid")
    shares = shares.with_columns(
        platform_expr("user_agent").alias("p_platform"),
        (pl.col("visitors") / pl.col("total").clip(1, None)).alias("ua_share"),
    )
    platforms = shares.group_by("tenant_id", "p_platform").agg(
        pl.col("ua_share").sum().alias("platform_share")
    )
    return (
        pairs.unique("pid", keep="any")
        .select(
            "pid", *PURCHASE_KEY, "purchase_time", "p_ua", "p_v6", platform_expr("p_ua").alias("p_platform")
        )
        .join(crowd, on="pid")
        .join(
            shares.select("tenant_id", pl.col("user_agent").alias("p_ua"), "ua_share"),
            on=["tenant_id", "p_ua"],
            how="left",
        )
        .join(platforms, on=["tenant_id", "p_platform"], how="left")
        .with_columns(
            pl.col("ua_share").fill_null(0.0).clip(MIN_UA_SHARE, 0.999),
            pl.col("platform_share").fill_null(0.0).clip(MIN_UA_SHARE, 0.999),
        )
    )


def decide(
    pairs: pl.DataFrame,
    shares: pl.DataFrame,
    *,
    threshold: float,
    window: timedelta,
    skew: timedelta,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, abstained) for the purchases of ``pairs`` (``PAIR_SCHEMA``: every candidate click on the
    purchase's network in [purchase - window, purchase + skew]). ``accepted``: the best visitor's most
    telling click with its confidence; ``abstained``: the reason and the evidence."""
    if pairs.is_empty():
        return pl.DataFrame(schema=ACCEPTED_SCHEMA), pl.DataFrame(schema=ABSTAINED_SCHEMA)
    span_s, recent_s = (window + skew).total_seconds(), (RECENT + skew).total_seconds()
    known = pl.col("p_ua").is_not_null() & pl.col("c_ua").is_not_null()
    # Integer ids for the purchase and the visitor, and the per-pair facts (strings compared once).
    pairs = pairs.with_columns(
        pl.struct(PURCHASE_KEY).rank("dense").alias("pid"),
        pl.col("session_id").hash().alias("vid"),
        (pl.col("c_ip") == pl.col("p_ip")).alias("exact"),
        pl.col("p_ip").str.contains(":").alias("p_v6"),
        (known & (pl.col("p_ua") == pl.col("c_ua"))).alias("same_ua"),
        known.alias("ua_known"),
        platform_expr("c_ua").alias("c_platform"),
        (
            pl.col("p_fbclid").is_not_null()
            & pl.col("c_fbclid").is_not_null()
            & (pl.col("p_fbclid") != pl.col("c_fbclid"))
        ).alias("conflict"),
    )
    per_purchase = _purchase_terms(pairs, shares, window, skew)
    terms = per_purchase.drop(*PURCHASE_KEY, "purchase_time", "p_ua", "p_v6")
    v6, exact, same_ua = pl.col("p_v6"), pl.col("exact"), pl.col("same_ua")
    network_unit = v6 | ~exact
    recent_candidate = (pl.col("occurred_at") >= pl.col("purchase_time") - RECENT).cast(pl.Float64)
    scored = (
        pairs.select(
            "pid",
            "vid",
            "click_id",
            "occurred_at",
            "purchase_time",
            "p_v6",
            "exact",
            "same_ua",
            "ua_known",
            "c_platform",
            "conflict",
        )
        .join(terms, on="pid")
        .with_columns(
            # others who shared the unit: in the window, at the last hour's rate, or as many as the
            # network's addresses carry on average (a carrier's /24 where this address looks quiet)
            pl.max_horizontal(
                _unit(network_unit, "") - 1,
                (_unit(network_unit, "_recent") - recent_candidate) * (span_s / recent_s),
                pl.when(~v6 & exact).then(pl.col("per_address") - 1),
            )
            .clip(0, None)
            .alias("others"),
            pl.when(~v6 & ~exact)
            .then(UNSEEN_CO_USERS * ADDRESSES_PER_V4_NETWORK)
            .otherwise(UNSEEN_CO_USERS)
            .alias("unseen"),
            pl.when(v6)
            .then(P_SAME_NET_V6)
            .when(exact)
            .then(P_SAME_ADDRESS_V4)
            .otherwise(P_ROTATED_V4)
            .alias("p_address"),
            pl.when(same_ua)
            .then(P_SAME_UA / pl.col("ua_share"))
            .when(pl.col("ua_known") & (pl.col("c_platform") == pl.col("p_platform")))
            .then(P_SAME_PLATFORM / (pl.col("platform_share") - pl.col("ua_share")).clip(MIN_UA_SHARE, None))
            .when(pl.col("ua_known"))
            .then(P_OTHER_PLATFORM / (1 - pl.col("platform_share")).clip(MIN_UA_SHARE, None))
            .otherwise(1.0)
            .alias("lr_ua"),
            _time_lr(window).alias("lr_time"),
        )
        .with_columns(
            (
                ODDS_AD
                * pl.col("p_address")
                * pl.col("lr_ua")
                * pl.col("lr_time")
                / (pl.col("others") + pl.col("unseen"))
            ).alias("w"),
            # a visitor any of whose clicks contradicts the purchase's own fbclid is not the buyer
            pl.col("conflict").any().over("pid", "vid").alias("vetoed"),
        )
        .with_columns(pl.when(pl.col("vetoed")).then(0.0).otherwise(pl.col("w")).alias("w"))
    )
    # One weight per visitor (its most telling click), then visitors best first per purchase.
    order = (["pid", "w", "occurred_at", "click_id"], [False, True, True, False])
    visitors = scored.sort(order[0], descending=order[1]).unique(
        ["pid", "vid"], keep="first", maintain_order=True
    )
    totals = visitors.group_by("pid", maintain_order=True).agg(
        pl.col("w").sum().alias("w_total"),
        pl.col("w").slice(1, 1).first().fill_null(0.0).alias("w_second"),
        pl.len().alias("candidates"),
        pl.col("vetoed").any().alias("any_vetoed"),
    )
    best = visitors.unique("pid", keep="first", maintain_order=True).join(totals, on="pid")
    decided = (
        best.join(per_purchase.select("pid", *PURCHASE_KEY, "p_ua"), on="pid")
        .with_columns(
            (pl.col("w") / (1 + pl.col("w_total"))).alias("confidence"),
            (pl.col("w_second") / (1 + pl.col("w_total"))).alias("runner_up"),
            (pl.col("w") / (1 + pl.col("w"))).alias("alone"),
            pl.concat_list(
                pl.when(pl.col("exact")).then(pl.lit("ip")).otherwise(pl.lit("ip_network")),
                pl.when(pl.col("same_ua")).then(pl.lit("user_agent")).otherwise(pl.lit(None, pl.String)),
                pl.lit("time"),
            )
            .list.drop_nulls()
            .list.join("+")
            .alias("key"),
        )
        .with_columns(
            pl.struct(
                pl.col("confidence").round(4),
                pl.col("runner_up").round(4),
                pl.col("candidates"),
                pl.col("visitors_address").round(1),
                pl.col("visitors_network").round(1),
                pl.col("others").round(1).alias("crowd"),
                pl.when(pl.col("p_ua").is_not_null()).then(pl.col("ua_share").round(4)).alias("ua_share"),
                ((pl.col("purchase_time") - pl.col("occurred_at")).dt.total_seconds() / 60)
                .round(1)
                .alias("minutes"),
                pl.col("click_id"),
            )
            .struct.json_encode()
            .alias("evidence"),
        )
    )
    accepted = decided.filter(pl.col("confidence") >= threshold).select(list(ACCEPTED_SCHEMA))
    abstained = decided.filter(pl.col("confidence") < threshold).select(
        *PURCHASE_KEY,
        pl.when((pl.col("w") == 0) & pl.col("any_vetoed"))
        .then(pl.lit("fbclid_conflict"))
        .when(pl.col("alone") >= threshold)
        .then(pl.lit("close_runner_up"))
        .when(pl.col("others") >= CROWD_VISITORS)
        .then(pl.lit("shared_address"))
        .when(pl.col("same_ua") & (pl.col("ua_share") >= COMMON_UA_SHARE))
        .then(pl.lit("common_user_agent"))
        .otherwise(pl.lit("weak_evidence"))
        .alias("abstain_reason"),
        "evidence",
    )
    return accepted, abstained
