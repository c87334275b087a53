"""The probabilistic stage knows when it does not know (trackai.pipeline.ambiguity), on small frames.

User-agent shares are given explicitly (the engine samples them from the tenant's recent traffic).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.support.rows import sid
from trackai.pipeline import ambiguity
from trackai.pipeline import matching as m

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
REDUCED = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
IN_APP = (
    "Mozilla/5.0 (Linux; Android 14; SM-A155M Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/491.0.0.51.109;IABMV/1;]"
)
CARRIER = "187.20.100.10"  # one of a carrier's NAT addresses
HOME = "177.45.12.9"


def shares(**visitors: int) -> pl.DataFrame:
    """Tenant t1's sampled visitors per user agent (REDUCED / IN_APP by name) out of 1,000."""
    names = {"reduced": REDUCED, "in_app": IN_APP}
    return pl.DataFrame(
        [
            {"tenant_id": "t1", "user_agent": names[k], "visitors": v, "total": 1000}
            for k, v in visitors.items()
        ],
        schema=ambiguity.SHARE_SCHEMA,
    )


def purchase(**row) -> pl.DataFrame:
    base = {"tenant_id": "t1", "gateway": "kiwify", "order_id": "o1", "purchase_time": T, "session_keys": []}
    return m.conform(pl.DataFrame([{**base, **row}]), m.PURCHASE_SCHEMA)


def visitor(n: int, *, ip: str, minutes: float, ua: str | None = REDUCED, **extra) -> dict:
    return {
        "click_id": n,
        "tenant_id": "t1",
        "session_id": sid(f"v{n}"),
        "client_ip": ip,
        "user_agent": ua,
        "occurred_at": T - timedelta(minutes=minutes),
        "utm": "{}",
        **extra,
    }


def crowd(count: int, *, ip: str = CARRIER, first: int = 100, ua: str | None = REDUCED) -> list[dict]:
    """``count`` other visitors on ``ip``, spread over the 24 h window."""
    return [visitor(first + k, ip=ip, minutes=10 + k * (1400 / max(count, 1)), ua=ua) for k in range(count)]


def decide(p: pl.DataFrame, rows: list[dict], ua: pl.DataFrame, **kw) -> dict:
    c = m.conform(pl.DataFrame(rows), m.CLICK_SCHEMA)
    ids = pl.DataFrame(schema=m.IDENTITY_SCHEMA)
    out = m.decide(p, c, ids, ua_shares=ua, **kw).to_dicts()
    assert len(out) == 1
    row = out[0]
    row["evidence"] = json.loads(row["evidence"]) if row["evidence"] else None
    return row


def lr_time(minutes: float) -> float:
    return 0.5 * 24 * math.exp(-minutes / 60) + 0.5


def test_alone_on_an_address_with_a_rare_user_agent_is_a_confident_match():
    got = decide(
        purchase(client_ip=HOME, user_agent=IN_APP),
        [visitor(1, ip=HOME, minutes=5, ua=IN_APP)],
        shares(in_app=10),
    )
    # same address 0.6 x identical UA of 1 % (0.8 / 0.01) x 5 minutes, over half an unseen co-user
    w = 0.6 * (0.8 / 0.01) * lr_time(5) / 0.5
    assert got["stage"] == "probabilistic" and got["click_id"] == 1
    assert got["confidence"] == pytest.approx(w / (1 + w), abs=1e-4) and got["confidence"] > 0.99
    assert got["matched_keys"] == ["ip", "user_agent", "time"]


def test_a_carrier_address_shared_by_many_visitors_abstains():
    """The buyer-looking visitor (same address, same reduced UA, 2 min before) is one of 61 phones there."""
    rows = [visitor(1, ip=CARRIER, minutes=2), *crowd(60)]
    got = decide(purchase(client_ip=CARRIER, user_agent=REDUCED), rows, shares(reduced=300))
    assert got["stage"] is None and got["abstain_reason"] == "shared_address"
    assert got["evidence"]["visitors_address"] == 61 and got["evidence"]["click_id"] == 1
    assert got["evidence"]["ua_share"] == 0.3 and got["evidence"]["confidence"] < 0.3


def test_a_user_agent_counts_by_its_rarity_not_by_equality():
    """On the same crowded address, the one visitor sharing the buyer's rare in-app UA is the buyer."""
    rows = [visitor(1, ip=CARRIER, minutes=3, ua=IN_APP), *crowd(60)]
    got = decide(purchase(client_ip=CARRIER, user_agent=IN_APP), rows, shares(reduced=300, in_app=2))
    assert got["stage"] == "probabilistic" and got["click_id"] == 1 and got["confidence"] > 0.9
    assert got["evidence"]["ua_share"] == ambiguity.MIN_UA_SHARE  # 2 of 1,000 is floored at 1 in 500


def test_two_equally_plausible_visitors_abstain_on_the_margin():
    rows = [visitor(1, ip=HOME, minutes=4, ua=IN_APP), visitor(2, ip=HOME, minutes=4, ua=IN_APP)]
    got = decide(purchase(client_ip=HOME, user_agent=IN_APP), rows, shares(in_app=10))
    assert got["stage"] is None and got["abstain_reason"] == "close_runner_up"
    assert got["evidence"]["runner_up"] == got["evidence"]["confidence"] < 0.5
    assert got["evidence"]["candidates"] == 2


def test_a_visitor_with_many_clicks_counts_once():
    one = decide(purchase(client_ip=HOME), [visitor(1, ip=HOME, minutes=30)], shares())
    s = sid("v1")
    pages = [visitor(n, ip=HOME, minutes=30 - n, session_id=s) for n in range(1, 6)]
    many = decide(purchase(client_ip=HOME), pages, shares())
    assert many["evidence"]["visitors_address"] == one["evidence"]["visitors_address"] == 1
    assert many["evidence"]["candidates"] == 1
    assert many["click_id"] == 5  # the visitor's most telling click: the latest before the purchase


def test_a_visitor_who_clicked_another_ad_than_the_purchase_is_not_the_buyer():
    """The purchase carried its own fbclid (whose click we never saw): a visitor whose click carried
    another one is vetoed, even through a page view of the same session without an fbclid."""
    s = sid("v1")
    rows = [
        visitor(1, ip=HOME, minutes=20, fbclid="IwAR_Other", session_id=s),
        visitor(2, ip=HOME, minutes=10, session_id=s),
    ]
    got = decide(purchase(client_ip=HOME, fbclid="IwAR_Own"), rows, shares())
    assert got["stage"] is None and got["abstain_reason"] == "fbclid_conflict"
    agrees = decide(purchase(client_ip=HOME, fbc="fb.1.1767225600000.IwAR_Other"), rows, shares())
    assert agrees["stage"] == "semi_deterministic"  # the same fbclid is a stronger match, not a conflict
    unknown = decide(purchase(client_ip=HOME), rows, shares())
    assert unknown["stage"] == "probabilistic"  # without an fbclid of its own the purchase vetoes nothing


def test_reasons_for_weak_evidence_and_a_common_user_agent():
    """Another address of the /24, three hours before: with the reduced UA (30 % of visitors) the
    UA is the reason; without any UA the evidence is simply weak."""
    rotated = [visitor(1, ip="187.20.100.77", minutes=180)]
    common = decide(purchase(client_ip=CARRIER, user_agent=REDUCED), rotated, shares(reduced=300))
    assert (common["stage"], common["abstain_reason"]) == (None, "common_user_agent")
    weak = decide(purchase(client_ip=CARRIER), [{**rotated[0], "user_agent": None}], shares())
    assert (weak["stage"], weak["abstain_reason"]) == (None, "weak_evidence")


def test_a_cut_network_fetch_estimates_the_crowd_it_did_not_see():
    """The lookup hit its limit 10 minutes before the purchase: the visitors it saw there stand for the
    whole window, so one visitor alone on the address in those minutes is not read as 'alone'."""
    rows = [visitor(1, ip=CARRIER, minutes=2, ua=IN_APP), *crowd(4, ip="187.20.100.11")]
    rows[1:] = [{**r, "occurred_at": T - timedelta(minutes=5 + k)} for k, r in enumerate(rows[1:])]
    p = purchase(client_ip=CARRIER, user_agent=IN_APP)
    horizons = p.select(*ambiguity.PURCHASE_KEY, pl.lit(T - timedelta(minutes=10)).alias("horizon"))
    seen = decide(p, rows, shares(in_app=30))
    cut = decide(p, rows, shares(in_app=30), horizons=horizons)
    assert seen["stage"] == "probabilistic"
    assert cut["stage"] is None and cut["abstain_reason"] == "shared_address"
    assert cut["evidence"]["visitors_network"] > 500


def test_user_agent_shares_count_visitors_not_clicks():
    c = m.conform(
        pl.DataFrame(
            [
                visitor(1, ip=HOME, minutes=1, session_id=sid("a")),
                visitor(2, ip=HOME, minutes=2, session_id=sid("a")),
                visitor(3, ip=HOME, minutes=3, session_id=sid("a")),
                visitor(4, ip=HOME, minutes=4, session_id=sid("b"), user_agent=IN_APP),
            ]
        ),
        m.CLICK_SCHEMA,
    )
    got = {r["user_agent"]: (r["visitors"], r["total"]) for r in ambiguity.ua_shares(c).to_dicts()}
    assert got == {REDUCED: (1, 2), IN_APP: (1, 2)}
