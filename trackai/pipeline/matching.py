"""Three-stage purchase -> click matching as pure Polars functions (no I/O; unit-tested).

Frames (column names are the contract with ``trackai.pipeline.candidates``, which fetches them):

``purchases`` — one row per approved purchase: tenant_id, gateway, order_id, purchase_time (UTC
datetime = first approval), session_keys (list[str]: the snippet-shaped session ids the checkout
carried), email_hash, phone_hash, fbclid, fbc, client_ip, client_net, user_agent, product_id.

``clicks`` — candidate clicks: click_id, tenant_id, session_id, occurred_at, landing_url, fbclid, fbc,
fbp, client_ip, client_net, user_agent, external_id, utm (JSON text). ``client_net`` is the network key
(``trackai.core.network``); it is derived when absent.

``identities`` — tenant_id, session_id, email_hash, phone_hash, seen_at (emails/phones captured by leads).

Stages, strongest first; a purchase keeps only the best match of the strongest stage that matched:

1. ``deterministic`` (score 1.0): a session key of the checkout equals a click's session_id. Only ids
   shaped like the snippet's (``trackai.core.session_id.is_session_id``, ~131 random bits) count, on
   both sides: tenant ids are public and anyone can post a click, so a click whose session id is a value
   many checkouts carry (``facebook``, ``cpc``, ``HOTMART_PRODUCT_PAGE``) must never join them.
2. ``semi_deterministic``: the purchase's fbc equals a click's fbc (score 0.9), or its fbclid (or the
   fbclid inside its fbc) equals a click's fbclid (0.9), with the click in [purchase - 7 days, purchase];
   ranked after those, a **lead identity** (score 0.8): the purchase's email_hash/phone_hash equals one
   captured by a lead (at or before the purchase) in a session with clicks in the lookback.
3. ``probabilistic``, only for purchases no stronger stage matched: the visitors (sessions) with clicks
   on the purchase's network in [purchase - window, purchase], weighed by how ambiguous the data says
   they are (``trackai.pipeline.ambiguity``: visitors sharing the address or network, the rarity of the
   user agent, the runner-up); score = confidence, kept when >= threshold, else the stage **abstains**
   and ``decide`` returns the reason and the evidence (docs/matching.md).

Every match carries ``confidence`` (the probability that its click is the buyer's: the stage score for
deterministic and semi-deterministic matches) and, when probabilistic, its ``evidence`` (JSON). Dispatch
lends a click's fbc/fbp/IP/UA to the Meta event only at TRACKAI_MATCH_SEND_MIN_CONFIDENCE
(``trackai.core.capi.payload``).

Why a lead is a weaker signal than the checkout's own session or fbc: a lead is a claim posted by whoever
knows an email (the endpoint is public), while session keys and fbc reach us through the gateway's
authenticated webhook. So a lead identity (a) ranks below every fbc/fbclid match, (b) is vetoed when the
purchase reports the buyer's address and the lead's click came from another network, and (c) is dropped
when the email/phone was captured by more than one session (two parties claim the buyer; we cannot tell
which is genuine). Requiring the lead's session to agree with its own clicks (same fbc/fbp/device) was
not chosen: the attacker controls every click of his own session, so that check would cost him nothing.
Residual: a purchase that reports no address, no session key and no fbc, by a buyer who never left a lead
himself, still takes the attribution of a lead planted beforehand with his email (docs/tracking.md).

A click after the purchase never matches, except one stamped within CLOCK_SKEW of it (gateway clocks), and
that one only when nothing before the purchase matched in the same stage and key: the purchase's own data
wins over a later click. Ties inside a stage: best key (session; fbc > fbclid > email > phone), a click at
or before the purchase, highest score, the most recent click, the lowest click_id.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from trackai.core import fbc as fbc_rules
from trackai.core import network, session_id
from trackai.pipeline import ambiguity
from trackai.settings import MatchSettings

STAGE_RANK = {"deterministic": 0, "semi_deterministic": 1, "probabilistic": 2}
STAGE_SCORE = {"deterministic": 1.0, "semi_deterministic": 0.9}
IDENTITY_SCORE = 0.8  # a lead's email/phone: semi_deterministic, ranked after fbc and fbclid
# Key ranks inside the semi_deterministic stage.
KEY_RANK = {"fbc": 0, "fbclid": 1, "email_hash": 2, "phone_hash": 3}
SEMI_WINDOW = timedelta(days=7)
PROBABILISTIC_WINDOW = timedelta(hours=24)
# Gateways stamp purchases with their own clocks, Kiwify only to the minute: a click recorded by our
# server up to this long after the stamped purchase time still counts as "before" the purchase.
CLOCK_SKEW = timedelta(minutes=2)
DEFAULT_THRESHOLD = MatchSettings.model_fields["threshold"].default

MATCH_COLUMNS = [
    "tenant_id",
    "gateway",
    "order_id",
    "click_id",
    "stage",
    "score",
    "matched_keys",
    "fbc",
    "fbp",
    "client_ip",
    "user_agent",
    "landing_url",
    "external_id",
    "confidence",
    "evidence",
]
# A decision that is not a match: the probabilistic stage abstained (stage null, see ``decide``).
ABSTENTION_COLUMNS = ["tenant_id", "gateway", "order_id", "abstain_reason", "evidence"]
_PURCHASE_KEY = ["tenant_id", "gateway", "order_id"]
_CANDIDATE_SCHEMA = {
    "tenant_id": pl.String,
    "gateway": pl.String,
    "order_id": pl.String,
    "click_id": pl.Int64,
    "stage": pl.String,
    "score": pl.Float64,
    "key": pl.String,
    "key_rank": pl.Int32,
    "occurred_at": pl.Datetime("us", "UTC"),
    "after_purchase": pl.Boolean,
    "evidence": pl.String,
}


_TS = pl.Datetime("us", "UTC")
PURCHASE_SCHEMA = {
    "tenant_id": pl.String,
    "gateway": pl.String,
    "order_id": pl.String,
    "purchase_time": _TS,
    "session_keys": pl.List(pl.String),
    "email_hash": pl.String,
    "phone_hash": pl.String,
    "fbclid": pl.String,
    "fbc": pl.String,
    "client_ip": pl.String,
    "user_agent": pl.String,
    "product_id": pl.String,
}
CLICK_SCHEMA = {
    "click_id": pl.Int64,
    "tenant_id": pl.String,
    "session_id": pl.String,
    "occurred_at": _TS,
    "landing_url": pl.String,
    "fbclid": pl.String,
    "fbc": pl.String,
    "fbp": pl.String,
    "client_ip": pl.String,
    "user_agent": pl.String,
    "external_id": pl.String,
    "utm": pl.String,
}
IDENTITY_SCHEMA = {
    "tenant_id": pl.String,
    "session_id": pl.String,
    "email_hash": pl.String,
    "phone_hash": pl.String,
    "seen_at": _TS,
}


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add missing columns as nulls and cast known ones (keeps extra columns such as client_net)."""
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name not in frame.columns]
    frame = frame.with_columns(missing) if missing else frame
    return frame.with_columns([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def is_session_id_expr(col: str) -> pl.Expr:
    """``trackai.core.session_id.is_session_id`` as a Polars expression (same pattern)."""
    return pl.col(col).is_not_null() & pl.col(col).str.contains(session_id.PATTERN)


def _with_net(frame: pl.DataFrame) -> pl.DataFrame:
    if "client_net" in frame.columns:
        return frame
    return frame.with_columns(
        pl.col("client_ip").map_elements(network.network_key, return_dtype=pl.String).alias("client_net")
    )


def _empty_candidates() -> pl.DataFrame:
    return pl.DataFrame(schema=_CANDIDATE_SCHEMA)


def _after_purchase() -> pl.Expr:
    """A click stamped after the purchase (allowed within CLOCK_SKEW) only ranks after those before it."""
    return (pl.col("occurred_at") > pl.col("purchase_time")).alias("after_purchase")


def _candidates(frame: pl.DataFrame, stage: str, key: str, key_rank: int, score: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.col("tenant_id"),
        pl.col("gateway"),
        pl.col("order_id"),
        pl.col("click_id").cast(pl.Int64),
        pl.lit(stage).alias("stage"),
        score.cast(pl.Float64).alias("score"),
        pl.lit(key).alias("key"),
        pl.lit(key_rank, pl.Int32).alias("key_rank"),
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC")),
        _after_purchase(),
        pl.lit(None, pl.String).alias("evidence"),
    )


def _before(purchase_time: str, occurred_at: str, window: timedelta | None) -> pl.Expr:
    cond = pl.col(occurred_at) <= pl.col(purchase_time) + CLOCK_SKEW
    if window is not None:
        cond = cond & (pl.col(occurred_at) >= pl.col(purchase_time) - window)
    return cond


def deterministic_candidates(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    identities: pl.DataFrame | None = None,
    lookback: timedelta | None = None,
) -> pl.DataFrame:
    """Stage 1 candidates: a snippet-shaped session key of the checkout equals a click's session_id.

    (``identities`` is accepted for older callers and ignored: leads are ``identity_candidates``.)"""
    if purchases.is_empty() or clicks.is_empty():
        return _empty_candidates()
    purchases, clicks = conform(purchases, PURCHASE_SCHEMA), conform(clicks, CLICK_SCHEMA)
    click_cols = clicks.filter(is_session_id_expr("session_id")).select(
        "tenant_id", "session_id", "click_id", "occurred_at"
    )
    sessions = (
        purchases.select(*_PURCHASE_KEY, "purchase_time", pl.col("session_keys").alias("session_id"))
        .explode("session_id")
        .filter(is_session_id_expr("session_id"))
        .unique()
    )
    by_session = sessions.join(click_cols, on=["tenant_id", "session_id"]).filter(
        _before("purchase_time", "occurred_at", lookback)
    )
    return _candidates(by_session, "deterministic", "session_id", 0, pl.lit(1.0))


def identity_candidates(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    identities: pl.DataFrame,
    lookback: timedelta | None = None,
) -> pl.DataFrame:
    """Lead identities (semi_deterministic, after fbc/fbclid): the purchase's email/phone hash equals one a
    lead captured at or before the purchase, joined to that session's clicks. Vetoed when the purchase
    reports an address and the click is from another network; dropped when more than one session
    claims the buyer (module docstring)."""
    if purchases.is_empty() or clicks.is_empty() or identities.is_empty():
        return _empty_candidates()
    purchases, clicks = (
        _with_net(conform(purchases, PURCHASE_SCHEMA)),
        _with_net(conform(clicks, CLICK_SCHEMA)),
    )
    identities = conform(identities, IDENTITY_SCHEMA).filter(is_session_id_expr("session_id"))
    click_cols = clicks.filter(is_session_id_expr("session_id")).select(
        "tenant_id",
        pl.col("session_id").alias("identity_session"),
        "click_id",
        "occurred_at",
        pl.col("client_net").alias("click_net"),
    )
    hits = []
    for column in ("email_hash", "phone_hash"):
        ids = identities.filter(pl.col(column).is_not_null()).select(
            "tenant_id", column, pl.col("session_id").alias("identity_session"), "seen_at"
        )
        hits.append(
            purchases.filter(pl.col(column).is_not_null())
            .select(*_PURCHASE_KEY, "purchase_time", pl.col("client_net").alias("purchase_net"), column)
            .join(ids, on=["tenant_id", column])
            .filter(pl.col("seen_at") <= pl.col("purchase_time") + CLOCK_SKEW)
            .join(click_cols, on=["tenant_id", "identity_session"])
            .filter(_before("purchase_time", "occurred_at", lookback))
            .filter(pl.col("purchase_net").is_null() | (pl.col("purchase_net") == pl.col("click_net")))
            .select(
                *_PURCHASE_KEY,
                "purchase_time",
                "identity_session",
                "click_id",
                "occurred_at",
                pl.lit(column).alias("key"),
            )
        )
    found = pl.concat(hits)
    claimed_once = (
        found.group_by(_PURCHASE_KEY)
        .agg(pl.col("identity_session").n_unique().alias("sessions"))
        .filter(pl.col("sessions") == 1)
        .select(_PURCHASE_KEY)
    )
    found = found.join(claimed_once, on=_PURCHASE_KEY)
    return found.select(
        *_PURCHASE_KEY,
        pl.col("click_id").cast(pl.Int64),
        pl.lit("semi_deterministic").alias("stage"),
        pl.lit(IDENTITY_SCORE, pl.Float64).alias("score"),
        pl.col("key"),
        pl.col("key").replace_strict(KEY_RANK, return_dtype=pl.Int32).alias("key_rank"),
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC")),
        _after_purchase(),
        pl.lit(None, pl.String).alias("evidence"),
    )


def semi_deterministic_candidates(
    purchases: pl.DataFrame, clicks: pl.DataFrame, window: timedelta = SEMI_WINDOW
) -> pl.DataFrame:
    """Stage 2 candidates: fbc or fbclid equality with the click at most ``window`` before the purchase."""
    if purchases.is_empty() or clicks.is_empty():
        return _empty_candidates()
    purchases, clicks = conform(purchases, PURCHASE_SCHEMA), conform(clicks, CLICK_SCHEMA)
    p = purchases.select(*_PURCHASE_KEY, "purchase_time", "fbc", "fbclid").with_columns(
        pl.col("fbc").map_elements(fbc_rules.fbclid_from_fbc, return_dtype=pl.String).alias("fbc_fbclid")
    )
    c = clicks.select("tenant_id", "click_id", "occurred_at", "fbc", "fbclid")
    out = [_empty_candidates()]
    by_fbc = (
        p.filter(pl.col("fbc").is_not_null())
        .join(c.filter(pl.col("fbc").is_not_null()).drop("fbclid"), on=["tenant_id", "fbc"])
        .filter(_before("purchase_time", "occurred_at", window))
    )
    score = pl.lit(STAGE_SCORE["semi_deterministic"])
    out.append(_candidates(by_fbc, "semi_deterministic", "fbc", KEY_RANK["fbc"], score))
    keyed = (
        pl.concat(
            [
                p.select(*_PURCHASE_KEY, "purchase_time", pl.col("fbclid")),
                p.select(*_PURCHASE_KEY, "purchase_time", pl.col("fbc_fbclid").alias("fbclid")),
            ]
        )
        .drop_nulls("fbclid")
        .unique()
    )
    by_fbclid = keyed.join(
        c.filter(pl.col("fbclid").is_not_null()).drop("fbc"), on=["tenant_id", "fbclid"]
    ).filter(_before("purchase_time", "occurred_at", window))
    out.append(_candidates(by_fbclid, "semi_deterministic", "fbclid", KEY_RANK["fbclid"], score))
    return pl.concat(out)


def _with_fbclid(frame: pl.DataFrame, alias: str) -> pl.DataFrame:
    """``alias`` = the frame's fbclid, else the one inside its fbc (``trackai.core.fbc``, per distinct fbc)."""
    inner = (
        frame.filter(pl.col("fbclid").is_null() & pl.col("fbc").is_not_null())
        .select("fbc")
        .unique()
        .with_columns(
            pl.col("fbc").map_elements(fbc_rules.fbclid_from_fbc, return_dtype=pl.String).alias("_inner")
        )
    )
    return (
        frame.join(inner, on="fbc", how="left")
        .with_columns(pl.coalesce("fbclid", "_inner").alias(alias))
        .drop("_inner")
    )


def candidate_pairs(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    window: timedelta = PROBABILISTIC_WINDOW,
    horizons: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every (purchase, click) pair of the same tenant and network in [purchase - window, purchase +
    CLOCK_SKEW], in ``ambiguity.PAIR_SCHEMA`` (``horizons``: per purchase, the oldest click a cut network
    fetch saw; see ``trackai.pipeline.candidates``)."""
    if purchases.is_empty() or clicks.is_empty():
        return pl.DataFrame(schema=ambiguity.PAIR_SCHEMA)
    purchases, clicks = (
        _with_net(conform(purchases, PURCHASE_SCHEMA)),
        _with_net(conform(clicks, CLICK_SCHEMA)),
    )
    p = _with_fbclid(purchases.filter(pl.col("client_net").is_not_null()), "p_fbclid").select(
        *_PURCHASE_KEY,
        "purchase_time",
        "client_net",
        pl.col("client_ip").cast(pl.String).alias("p_ip"),
        pl.col("user_agent").alias("p_ua"),
        "p_fbclid",
    )
    if horizons is not None and not horizons.is_empty():
        p = p.join(horizons.select(*_PURCHASE_KEY, "horizon"), on=_PURCHASE_KEY, how="left")
    else:
        p = p.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("horizon"))
    c = _with_fbclid(clicks.filter(pl.col("client_net").is_not_null()), "c_fbclid").select(
        "tenant_id",
        "client_net",
        "click_id",
        "occurred_at",
        "session_id",
        pl.col("client_ip").cast(pl.String).alias("c_ip"),
        pl.col("user_agent").alias("c_ua"),
        "c_fbclid",
    )
    pairs = p.join(c, on=["tenant_id", "client_net"]).filter(_before("purchase_time", "occurred_at", window))
    return pairs.select([pl.col(k).cast(v) for k, v in ambiguity.PAIR_SCHEMA.items()])


def probabilistic_stage(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = PROBABILISTIC_WINDOW,
    *,
    ua_shares: pl.DataFrame | None = None,
    horizons: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stage 3: (candidates at or above ``threshold`` confidence, abstentions) — ``trackai.pipeline.ambiguity``.

    ``ua_shares`` (``ambiguity.SHARE_SCHEMA``) come from a sample of the tenant's recent traffic; without
    them the shares are measured on ``clicks``."""
    pairs = candidate_pairs(purchases, clicks, window, horizons)
    if pairs.is_empty():
        return _empty_candidates(), pl.DataFrame(schema=ambiguity.ABSTAINED_SCHEMA)
    if ua_shares is None:
        ua_shares = ambiguity.ua_shares(conform(clicks, CLICK_SCHEMA))
    accepted, abstained = ambiguity.decide(
        pairs, ua_shares, threshold=threshold, window=window, skew=CLOCK_SKEW
    )
    candidates = accepted.select(
        *_PURCHASE_KEY,
        pl.col("click_id").cast(pl.Int64),
        pl.lit("probabilistic").alias("stage"),
        pl.col("confidence").round(4).alias("score"),
        pl.col("key"),
        pl.lit(0, pl.Int32).alias("key_rank"),
        pl.col("occurred_at").cast(pl.Datetime("us", "UTC")),
        _after_purchase(),
        pl.col("evidence"),
    )
    return candidates, abstained


def probabilistic_candidates(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = PROBABILISTIC_WINDOW,
) -> pl.DataFrame:
    """Stage 3 candidates only (``probabilistic_stage`` without the abstentions)."""
    return probabilistic_stage(purchases, clicks, threshold, window)[0]


def best_matches(candidates: pl.DataFrame) -> pl.DataFrame:
    """At most one match per purchase: strongest stage, then best key, a click at or before the purchase
    over one stamped after it (clock skew), score, recency, lowest click_id.

    ``matched_keys`` lists every key by which the chosen click matched within its stage.
    """
    if candidates.is_empty():
        return pl.DataFrame(
            schema={
                **{k: pl.String for k in _PURCHASE_KEY},
                "click_id": pl.Int64,
                "stage": pl.String,
                "score": pl.Float64,
                "matched_keys": pl.List(pl.String),
                "evidence": pl.String,
            }
        )
    per_click = (
        candidates.with_columns(
            pl.col("stage").replace_strict(STAGE_RANK, return_dtype=pl.Int32).alias("stage_rank"),
            pl.col("key").str.split("+"),
        )
        .explode("key")
        .group_by([*_PURCHASE_KEY, "click_id", "stage", "stage_rank"])
        .agg(
            pl.col("score").max(),
            pl.col("key_rank").min(),
            pl.col("occurred_at").first(),
            pl.col("after_purchase").first(),
            pl.col("evidence").drop_nulls().first(),
            pl.col("key").sort_by("key_rank").unique(maintain_order=True).alias("matched_keys"),
        )
    )
    ranked = per_click.sort(
        ["stage_rank", "key_rank", "after_purchase", "score", "occurred_at", "click_id"],
        descending=[False, False, False, True, True, False],
    )
    return ranked.unique(subset=_PURCHASE_KEY, keep="first", maintain_order=True).select(
        *_PURCHASE_KEY, "click_id", "stage", "score", "matched_keys", "evidence"
    )


def enrich(best: pl.DataFrame, clicks: pl.DataFrame) -> pl.DataFrame:
    """Attach the click's fbc (verbatim), fbp, client_ip, user_agent, landing_url and external_id, and the
    match's ``confidence``: the probability that the click is the buyer's (deterministic and
    semi-deterministic: their stage score; probabilistic: ``trackai.pipeline.ambiguity``)."""
    click_cols = ["fbc", "fbp", "client_ip", "user_agent", "landing_url", "external_id"]
    best = best.with_columns(pl.col("score").alias("confidence"))
    if best.is_empty():
        return best.with_columns([pl.lit(None, pl.String).alias(c) for c in click_cols]).select(MATCH_COLUMNS)
    info = (
        conform(clicks, CLICK_SCHEMA)
        .select(pl.col("click_id").cast(pl.Int64), *[pl.col(c).cast(pl.String) for c in click_cols])
        .unique(subset="click_id")
    )
    return best.join(info, on="click_id", how="left").select(MATCH_COLUMNS)


def decide(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    identities: pl.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    semi_window: timedelta = SEMI_WINDOW,
    probabilistic_window: timedelta = PROBABILISTIC_WINDOW,
    deterministic_lookback: timedelta | None = None,
    ua_shares: pl.DataFrame | None = None,
    horizons: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All three stages over one set of candidate clicks: one row per purchase that was matched
    (``MATCH_COLUMNS``) or on which the probabilistic stage abstained (``stage`` null, ``abstain_reason``
    and ``evidence`` set). Purchases with no candidate at all have no row."""
    if purchases.is_empty():
        empty = enrich(best_matches(pl.DataFrame()), pl.DataFrame(schema=CLICK_SCHEMA))
        return empty.with_columns(pl.lit(None, pl.String).alias("abstain_reason"))
    stronger = best_matches(
        pl.concat(
            [
                deterministic_candidates(purchases, clicks, lookback=deterministic_lookback),
                semi_deterministic_candidates(purchases, clicks, semi_window),
                identity_candidates(purchases, clicks, identities, deterministic_lookback),
            ]
        )
    )
    rest = purchases.join(stronger.select(_PURCHASE_KEY), on=_PURCHASE_KEY, how="anti")
    prob, abstained = probabilistic_stage(
        rest, clicks, threshold, probabilistic_window, ua_shares=ua_shares, horizons=horizons
    )
    matches = enrich(pl.concat([stronger, best_matches(prob)]), clicks)
    return pl.concat(
        [matches.with_columns(pl.lit(None, pl.String).alias("abstain_reason")), abstained],
        how="diagonal_relaxed",
    )


def match_purchases(
    purchases: pl.DataFrame,
    clicks: pl.DataFrame,
    identities: pl.DataFrame,
    **options,
) -> pl.DataFrame:
    """The enriched best match per purchase (``decide`` without the abstentions)."""
    decided = decide(purchases, clicks, identities, **options)
    return decided.filter(pl.col("stage").is_not_null()).select(MATCH_COLUMNS)


def stage_counts(decisions: pl.DataFrame, purchases_total: int) -> dict[str, int]:
    """Matches per stage (abstentions are not matches) and the unmatched rest."""
    counts = {stage: 0 for stage in STAGE_RANK}
    if not decisions.is_empty():
        for stage, n in decisions.drop_nulls("stage").group_by("stage").len().iter_rows():
            counts[stage] = int(n)
    counts["unmatched"] = purchases_total - sum(counts[s] for s in STAGE_RANK)
    return counts
