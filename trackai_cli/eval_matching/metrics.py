"""Precision, recall and F1 of the engine's decisions against the simulator's truth (pure).

A decision is correct when the matched click belongs to the buyer's own session. Per stage:
- precision = correct matches of the stage / matches of the stage;
- recall = correct matches of the stage / ad buyers that stage is for: ``deterministic`` the checkouts
  that kept the session id, ``semi_deterministic`` those that carried the buyer's fbc instead, and
  ``probabilistic`` the ones that carried neither (device switchers included: they are ad buyers the
  stage cannot find, and counting them keeps "recall" honest).
Overall: recall of ad buyers (correct at any stage), and the share of organic buyers credited to
someone's click (matched at any stage: each is a false attribution Meta would learn from). With
``send_min_confidence`` the figures are also given for what reaches Meta (matches at or above it).
"""

from __future__ import annotations

import polars as pl

STAGES = ("deterministic", "semi_deterministic", "probabilistic")
ROUTES_FOR = {
    "deterministic": ("session",),
    "semi_deterministic": ("fbc",),
    "probabilistic": ("dropped", "switched"),
}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None or p + r == 0:
        return None
    return round(2 * p * r / (p + r), 4)


def score(truth: pl.DataFrame, decisions: pl.DataFrame, send_min_confidence: float | None = None) -> dict:
    """The metrics of one scenario run (see the module docstring)."""
    joined = truth.join(decisions, on="order_id", how="left").with_columns(
        (pl.col("buyer").is_not_null() & (pl.col("matched") == pl.col("buyer")))
        .fill_null(False)
        .alias("correct")
    )
    out: dict = {"purchases": joined.height, "stages": {}}
    for stage in STAGES:
        at = joined.filter(pl.col("stage") == stage)
        eligible = joined.filter(pl.col("route").is_in(ROUTES_FOR[stage])).height
        correct = int(at["correct"].sum())
        precision, recall = _ratio(correct, at.height), _ratio(correct, eligible)
        out["stages"][stage] = {
            "matches": at.height,
            "correct": correct,
            "eligible": eligible,
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
        }
    ad = joined.filter(pl.col("buyer").is_not_null())
    organic = joined.filter(pl.col("buyer").is_null())
    matched = joined.filter(pl.col("stage").is_not_null())
    out["ad_buyers"] = ad.height
    out["organic_buyers"] = organic.height
    out["recall"] = _ratio(int(ad["correct"].sum()), ad.height)
    out["precision"] = _ratio(int(matched["correct"].sum()), matched.height)
    out["organic_credited"] = _ratio(organic.filter(pl.col("stage").is_not_null()).height, organic.height)
    reasons = joined.drop_nulls("abstain_reason").group_by("abstain_reason").len().sort("abstain_reason")
    out["abstained"] = dict(reasons.iter_rows())
    if send_min_confidence is not None:
        sent = joined.filter(
            pl.col("stage").is_not_null()
            & ((pl.col("stage") != "probabilistic") | (pl.col("confidence") >= send_min_confidence))
        )
        prob_sent = sent.filter(pl.col("stage") == "probabilistic")
        eligible = joined.filter(pl.col("route").is_in(ROUTES_FOR["probabilistic"])).height
        correct = int(prob_sent["correct"].sum())
        precision, recall = _ratio(correct, prob_sent.height), _ratio(correct, eligible)
        out["sent"] = {
            "min_confidence": send_min_confidence,
            "probabilistic": {
                "matches": prob_sent.height,
                "correct": correct,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
            },
            "organic_credited": _ratio(sent.filter(pl.col("buyer").is_null()).height, organic.height),
        }
    return out
