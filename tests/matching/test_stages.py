"""Unit tests of each matching stage, the scoring and the fold, on small Polars frames."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.support.rows import sid
from trackai.core.event_id import event_id
from trackai.pipeline import matching as m
from trackai.pipeline.purchases import approved, fold_conversions

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
UA_CHROME_ANDROID = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
UA_CHROME_ANDROID_2 = (
    "Mozilla/5.0 (Linux; Android 13; SM-A515F) AppleWebKit/537.36 Chrome/125.0 Mobile Safari/537.36"
)
S1, S, U, LEAD, OTHER = (sid(label) for label in ("sess-1", "s", "u", "lead", "s-other"))
UA_SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1"
)


def purchases(*rows: dict) -> pl.DataFrame:
    base = {"tenant_id": "t1", "gateway": "kiwify", "purchase_time": T, "session_keys": []}
    return m.conform(pl.DataFrame([{**base, **r} for r in rows]), m.PURCHASE_SCHEMA)


def clicks(*rows: dict) -> pl.DataFrame:
    base = {"tenant_id": "t1", "session_id": OTHER, "utm": "{}"}
    return m.conform(pl.DataFrame([{**base, **r} for r in rows]), m.CLICK_SCHEMA)


NO_IDS = pl.DataFrame(schema=m.IDENTITY_SCHEMA)


def best(p, c, ids=NO_IDS, **kw) -> dict[str, dict]:
    return {r["order_id"]: r for r in m.match_purchases(p, c, ids, **kw).to_dicts()}


# ---------------------------------------------------------------- deterministic


def test_session_key_matches_deterministically():
    p = purchases({"order_id": "o1", "session_keys": [S1]})
    c = clicks({"click_id": 1, "session_id": S1, "occurred_at": T - timedelta(days=2), "fbc": "fb.1.1.X"})
    got = best(p, c)["o1"]
    assert (got["stage"], got["click_id"], got["score"], got["matched_keys"]) == (
        "deterministic",
        1,
        1.0,
        ["session_id"],
    )
    assert got["fbc"] == "fb.1.1.X"


def test_session_beats_a_lead_identity_of_the_same_click():
    h = "a" * 64
    p = purchases({"order_id": "o1", "session_keys": [S1], "email_hash": h})
    c = clicks({"click_id": 7, "session_id": S1, "occurred_at": T - timedelta(hours=1)})
    got = best(p, c, identities((S1, h, T - timedelta(hours=1))))["o1"]
    assert got["stage"] == "deterministic" and got["matched_keys"] == ["session_id"]


def identities(*rows: tuple[str, str, datetime], column: str = "email_hash") -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"tenant_id": "t1", "session_id": s, column: h, "seen_at": at} for s, h, at in rows]
    )
    return m.conform(frame, m.IDENTITY_SCHEMA)


def test_lead_identity_is_semi_deterministic_below_fbc_and_fbclid():
    h = "a" * 64
    p = purchases({"order_id": "o1", "email_hash": h}, {"order_id": "o2", "email_hash": h, "fbclid": "F2"})
    c = clicks(
        {"click_id": 7, "session_id": LEAD, "occurred_at": T - timedelta(hours=1)},
        {"click_id": 8, "session_id": OTHER, "fbclid": "F2", "occurred_at": T - timedelta(hours=3)},
    )
    got = best(p, c, identities((LEAD, h, T - timedelta(hours=1))))
    assert (got["o1"]["stage"], got["o1"]["click_id"], got["o1"]["score"]) == (
        "semi_deterministic",
        7,
        m.IDENTITY_SCORE,
    )
    assert got["o1"]["matched_keys"] == ["email_hash"]
    assert got["o2"]["click_id"] == 8 and got["o2"]["matched_keys"] == ["fbclid"]  # the purchase's own fbclid


def test_lead_identity_claimed_by_two_sessions_matches_nothing():
    """The buyer's own lead and an attacker's lead with the same email: we cannot tell them apart."""
    h = "c" * 64
    attacker = sid("attacker")
    p = purchases({"order_id": "o1", "email_hash": h})
    c = clicks(
        {"click_id": 7, "session_id": LEAD, "occurred_at": T - timedelta(days=2)},
        {"click_id": 9, "session_id": attacker, "occurred_at": T - timedelta(hours=1)},
    )
    ids = identities((LEAD, h, T - timedelta(days=2)), (attacker, h, T - timedelta(hours=1)))
    assert best(p, c, ids) == {}
    assert best(p, c, identities((LEAD, h, T - timedelta(days=2))))["o1"]["click_id"] == 7


def test_lead_identity_from_another_network_than_the_purchase_is_vetoed():
    h = "d" * 64
    p = purchases({"order_id": "o1", "email_hash": h, "client_ip": "198.51.100.20"})
    c = clicks(
        {"click_id": 7, "session_id": LEAD, "client_ip": "66.66.66.66", "occurred_at": T - timedelta(hours=1)}
    )
    ids = identities((LEAD, h, T - timedelta(hours=1)))
    assert best(p, c, ids) == {}
    same_net = clicks(
        {
            "click_id": 8,
            "session_id": LEAD,
            "client_ip": "198.51.100.99",
            "occurred_at": T - timedelta(hours=1),
        }
    )
    assert best(p, same_net, ids)["o1"]["click_id"] == 8


def test_clicks_and_keys_not_shaped_like_the_snippets_ids_never_join():
    """Issue 22: values every checkout carries (utm, gateway defaults) posted as click session ids."""
    keys = ["facebook", "cpc", "HOTMART_PRODUCT_PAGE", "tai_short", S1]
    p = purchases({"order_id": "o1", "session_keys": keys})
    c = clicks(
        *(
            {"click_id": i, "session_id": k, "occurred_at": T - timedelta(minutes=i)}
            for i, k in enumerate(keys[:4])
        )
    )
    assert best(p, c) == {}
    lead = identities(("facebook", "e" * 64, T - timedelta(hours=1)))
    assert best(purchases({"order_id": "o2", "email_hash": "e" * 64}), c, lead) == {}
    own = clicks({"click_id": 99, "session_id": S1, "occurred_at": T - timedelta(days=1)})
    assert best(p, pl.concat([c, own]))["o1"]["click_id"] == 99


def test_identity_seen_after_the_purchase_does_not_count():
    h = "b" * 64
    p = purchases({"order_id": "o1", "phone_hash": h})
    c = clicks({"click_id": 7, "session_id": LEAD, "occurred_at": T - timedelta(hours=1)})
    assert (
        best(p, c, identities((LEAD, h, T + m.CLOCK_SKEW + timedelta(minutes=1)), column="phone_hash")) == {}
    )
    assert best(p, c, identities((LEAD, h, T), column="phone_hash"))["o1"]["matched_keys"] == ["phone_hash"]


def test_purchase_before_its_click_is_not_matched():
    p = purchases({"order_id": "o1", "session_keys": [S1], "fbclid": "F", "client_ip": "1.2.3.4"})
    c = clicks(
        {
            "click_id": 1,
            "session_id": S1,
            "fbclid": "F",
            "client_ip": "1.2.3.4",
            "occurred_at": T + m.CLOCK_SKEW + timedelta(seconds=1),
        }
    )
    assert best(p, c, threshold=0.0) == {}


def test_click_stamped_just_after_the_purchase_within_clock_skew_still_matches():
    """Gateway clocks (Kiwify: minute precision) may stamp a purchase slightly before our click time."""
    p = purchases({"order_id": "o1", "session_keys": [S1]})
    c = clicks({"click_id": 1, "session_id": S1, "occurred_at": T + m.CLOCK_SKEW - timedelta(seconds=1)})
    assert best(p, c)["o1"]["stage"] == "deterministic"


def test_a_click_stamped_after_the_purchase_never_outranks_one_before_it():
    """Inside the clock-skew tolerance a later click may match, but only when nothing before the purchase
    does: the session's click at T-1h (the ad's fbc) wins over its page view at T+1min (a newer fbc),
    though the later one is more recent; likewise for an fbclid match."""
    p = purchases({"order_id": "o1", "session_keys": [S1]}, {"order_id": "o2", "fbclid": "IwAR_Own"})
    c = clicks(
        {"click_id": 1, "session_id": S1, "occurred_at": T - timedelta(hours=1), "fbc": "fb.1.1.IwAR_Ad"},
        {"click_id": 2, "session_id": S1, "occurred_at": T + timedelta(minutes=1), "fbc": "fb.1.2.IwAR_New"},
        {"click_id": 3, "fbclid": "IwAR_Own", "fbc": "fb.1.3.IwAR_Own", "occurred_at": T - timedelta(days=2)},
        {
            "click_id": 4,
            "fbclid": "IwAR_Own",
            "fbc": "fb.1.4.IwAR_Own",
            "occurred_at": T + timedelta(minutes=1),
        },
    )
    got = best(p, c)
    assert (got["o1"]["click_id"], got["o1"]["fbc"]) == (1, "fb.1.1.IwAR_Ad")
    assert got["o2"]["click_id"] == 3
    alone = best(p, c.filter(pl.col("click_id").is_in([2, 4])))  # only the later clicks: they still match
    assert alone["o1"]["click_id"] == 2 and alone["o2"]["click_id"] == 4


def test_other_tenant_never_matches():
    p = purchases({"order_id": "o1", "session_keys": [S1]})
    c = clicks({"click_id": 1, "tenant_id": "t2", "session_id": S1, "occurred_at": T - timedelta(hours=1)})
    assert best(p, c) == {}


def test_ties_pick_most_recent_click_then_lowest_click_id():
    p = purchases({"order_id": "o1", "session_keys": [S]}, {"order_id": "o2", "session_keys": [U]})
    c = clicks(
        {"click_id": 5, "session_id": S, "occurred_at": T - timedelta(hours=3)},
        {"click_id": 9, "session_id": S, "occurred_at": T - timedelta(hours=1)},
        {"click_id": 12, "session_id": U, "occurred_at": T - timedelta(hours=1)},
        {"click_id": 11, "session_id": U, "occurred_at": T - timedelta(hours=1)},
    )
    got = best(p, c)
    assert got["o1"]["click_id"] == 9
    assert got["o2"]["click_id"] == 11


# ---------------------------------------------------------------- semi-deterministic


@pytest.mark.parametrize(
    ("age", "matched"),
    [(timedelta(days=7), True), (timedelta(days=7, seconds=1), False), (timedelta(0), True)],
)
def test_fbclid_seven_day_edge(age, matched):
    p = purchases({"order_id": "o1", "fbclid": "IwAR_Ab"})
    c = clicks({"click_id": 3, "fbclid": "IwAR_Ab", "fbc": "fb.1.123.IwAR_Ab", "occurred_at": T - age})
    got = best(p, c)
    assert ("o1" in got) is matched
    if matched:
        assert got["o1"]["stage"] == "semi_deterministic" and got["o1"]["fbc"] == "fb.1.123.IwAR_Ab"


def test_fbc_equality_and_fbclid_inside_fbc():
    p = purchases(
        {"order_id": "o1", "fbc": "fb.1.1700000000000.IwAR_Case"},
        {"order_id": "o2", "fbc": "fb.2.1699999999999.IwAR_Other.AbCdEfGh"},
    )
    c = clicks(
        {
            "click_id": 1,
            "fbclid": "IwAR_Case",
            "fbc": "fb.1.1700000000000.IwAR_Case",
            "occurred_at": T - timedelta(days=1),
        },
        {
            "click_id": 2,
            "fbclid": "IwAR_Other",
            "fbc": "fb.1.1.IwAR_Other",
            "occurred_at": T - timedelta(days=1),
        },
        {
            "click_id": 3,
            "fbclid": "iwar_case",
            "occurred_at": T - timedelta(hours=1),
        },  # case differs: no match
    )
    got = best(p, c)
    assert got["o1"]["click_id"] == 1 and got["o1"]["matched_keys"] == ["fbc", "fbclid"]
    assert got["o2"]["click_id"] == 2 and got["o2"]["matched_keys"] == ["fbclid"]
    assert got["o2"]["fbc"] == "fb.1.1.IwAR_Other"  # the click's fbc, verbatim


def test_fbclid_from_fbc():
    from trackai.core.fbc import fbclid_from_fbc

    assert fbclid_from_fbc("fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890") == (
        "AbCdEfGhIjKlMnOpQrStUvWxYz1234567890"
    )
    assert fbclid_from_fbc("fb.1.1554763741205.IwAR2.AQAAAAAA") == "IwAR2"
    assert fbclid_from_fbc("garbage") is None
    assert fbclid_from_fbc(None) is None


# ---------------------------------------------------------------- probabilistic + scoring


def _lr_time(minutes: float) -> float:
    """ambiguity's LR_time for a 24 h window: half the buyers within ~1 h, the rest uniform."""
    return 0.5 * 24 * math.exp(-minutes / 60) + 0.5


def test_probabilistic_candidates_are_the_same_network_inside_the_window():
    p = purchases({"order_id": "o1", "client_ip": "203.0.113.7", "user_agent": UA_CHROME_ANDROID})
    c = clicks(
        {"click_id": 1, "client_ip": "203.0.113.7", "occurred_at": T},
        {"click_id": 2, "client_ip": "203.0.113.8", "occurred_at": T - timedelta(hours=12)},
        {"click_id": 3, "client_ip": "203.0.113.9", "occurred_at": T - timedelta(hours=24)},
        {"click_id": 4, "client_ip": "203.0.114.9", "occurred_at": T},  # other /24
        {"click_id": 5, "client_ip": "203.0.113.7", "occurred_at": T - timedelta(hours=24, seconds=1)},  # old
        {"click_id": 6, "client_ip": "203.0.113.7", "occurred_at": T + m.CLOCK_SKEW + timedelta(seconds=1)},
    )
    assert set(m.candidate_pairs(p, c)["click_id"]) == {1, 2, 3}


def test_probabilistic_confidence_of_a_visitor_alone_on_the_address():
    """Same IPv4 an hour before, no user agent on either side: w = 0.6 x LR_time(60 min) over half an unseen
    co-user (no other visitor there), confidence w / (1 + w); recorded as score and confidence."""
    p = purchases({"order_id": "o1", "client_ip": "203.0.113.7"})
    c = clicks({"click_id": 1, "client_ip": "203.0.113.7", "occurred_at": T - timedelta(hours=1)})
    w = 0.6 * _lr_time(60) / 0.5
    got = best(p, c)["o1"]
    assert got["stage"] == "probabilistic" and got["matched_keys"] == ["ip", "time"]
    assert got["score"] == got["confidence"] == pytest.approx(w / (1 + w), abs=1e-4)
    evidence = json.loads(got["evidence"])
    assert evidence["visitors_address"] == 1 and evidence["click_id"] == 1 and evidence["minutes"] == 60


def test_ipv6_same_64_is_a_strong_network_match():
    """A /64 is one subscriber: another address in it counts 0.8; another IPv4 of a /24 counts 0.15 and
    shares the /24 with the unseen people of its 254 addresses."""
    p = purchases({"order_id": "o1", "client_ip": "2001:db8:1:2::10"})
    c = clicks({"click_id": 1, "client_ip": "2001:db8:1:2:abcd::1", "occurred_at": T - timedelta(minutes=1)})
    got = best(p, c)["o1"]
    w = 0.8 * _lr_time(1) / 0.5
    assert got["stage"] == "probabilistic" and got["matched_keys"] == ["ip_network", "time"]
    assert got["confidence"] == pytest.approx(w / (1 + w), abs=1e-4)
    v4 = best(purchases({"order_id": "o1", "client_ip": "203.0.113.10"}),
              clicks({"click_id": 1, "client_ip": "203.0.113.99", "occurred_at": T - timedelta(minutes=1)}),
              threshold=0.0)["o1"]  # fmt: skip
    assert v4["confidence"] == pytest.approx(
        0.15 * _lr_time(1) / 127 / (1 + 0.15 * _lr_time(1) / 127), abs=1e-4
    )


def test_threshold_is_configurable():
    p = purchases({"order_id": "o1", "client_ip": "203.0.113.7"})
    c = clicks({"click_id": 1, "client_ip": "203.0.113.7", "occurred_at": T - timedelta(hours=1)})
    assert best(p, c)["o1"]["confidence"] == pytest.approx(0.8550, abs=1e-4)
    assert best(p, c, threshold=0.9) == {}
    assert best(p, c, threshold=0.85)["o1"]["stage"] == "probabilistic"


def test_probabilistic_never_overrides_a_stronger_stage():
    p = purchases({"order_id": "o1", "fbclid": "F", "client_ip": "203.0.113.7", "user_agent": UA_SAFARI_IOS})
    c = clicks(
        {"click_id": 1, "fbclid": "F", "occurred_at": T - timedelta(days=3)},
        {"click_id": 2, "client_ip": "203.0.113.7", "user_agent": UA_SAFARI_IOS, "occurred_at": T},
    )
    got = best(p, c)["o1"]
    assert (got["stage"], got["click_id"]) == ("semi_deterministic", 1)


def test_probabilistic_tie_breaks_by_recency_then_click_id():
    p = purchases({"order_id": "o1", "client_ip": "10.0.0.1", "user_agent": UA_SAFARI_IOS})
    c = clicks(
        {
            "click_id": 8,
            "client_ip": "10.0.0.1",
            "user_agent": UA_SAFARI_IOS,
            "occurred_at": T - timedelta(minutes=5),
        },
        {
            "click_id": 4,
            "client_ip": "10.0.0.1",
            "user_agent": UA_SAFARI_IOS,
            "occurred_at": T - timedelta(minutes=5),
        },
    )
    assert best(p, c)["o1"]["click_id"] == 4


def test_at_most_one_match_per_purchase_and_stage_counts():
    p = purchases({"order_id": "a", "session_keys": [S]}, {"order_id": "b"})
    c = clicks(
        {"click_id": 1, "session_id": S, "occurred_at": T - timedelta(hours=1)},
        {"click_id": 2, "session_id": S, "occurred_at": T - timedelta(hours=2)},
    )
    result = m.match_purchases(p, c, NO_IDS)
    assert result.height == 1
    assert m.stage_counts(result, 2) == {
        "deterministic": 1,
        "semi_deterministic": 0,
        "probabilistic": 0,
        "unmatched": 1,
    }


# ---------------------------------------------------------------- fold


def test_fold_keeps_first_approval_and_latest_status():
    ts = pl.Datetime("us", "UTC")
    conv = pl.DataFrame(
        {
            "conversion_id": [3, 1, 2, 4],
            "tenant_id": ["t1"] * 4,
            "gateway": ["kiwify"] * 4,
            "order_id": ["o1", "o1", "o1", "o2"],
            "status": ["refunded", "pending", "approved", "pending"],
            "event_time": [T + timedelta(days=2), T - timedelta(hours=1), T, T + timedelta(days=1)],
            "session_id": [None, S, None, None],
            "tracking_keys": [[], [S, "facebook", "HOTMART_PRODUCT_PAGE", S1], [], []],
            "amount": ["97.0", "97.0", None, "10.0"],
        },
        schema_overrides={"event_time": ts, "tracking_keys": pl.List(pl.String)},
    )
    folded = {r["order_id"]: r for r in fold_conversions(conv).to_dicts()}
    o1 = folded["o1"]
    assert o1["status"] == "refunded" and o1["approved_at"] == T
    assert (
        o1["partition_date"] == T.date() and o1["first_conversion_id"] == 1 and o1["last_conversion_id"] == 3
    )
    assert o1["session_keys"] == [S, S1] and o1["amount"] == "97.0"  # utm values and defaults are no keys
    assert o1["event_id"] == event_id("t1", "o1", "Purchase")
    assert (
        folded["o2"]["approved_at"] is None
        and folded["o2"]["partition_date"] == (T + timedelta(days=1)).date()
    )
    assert approved(fold_conversions(conv))["order_id"].to_list() == ["o1"]
