"""A purchase's own data wins: a click recorded after the purchase never replaces the fbc it carried, and
a match lends its click's fbc/fbp/IP/UA to the Meta event only at the configured confidence
(TRACKAI_MATCH_SEND_MIN_CONFIDENCE); below it the purchase goes with its own data only.

Pure payload rules first, then the same through the real engine: landed rows -> run_batch -> the payload
dispatch builds (``trackai.dispatch.store.rebuild_payload``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.rows import land_click, land_conversion, sid
from trackai.core.capi.payload import build_purchase_event
from trackai.core.event_id import event_id
from trackai.dispatch import store
from trackai.pipeline import batch

T = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
OWN_FBC = "fb.1.1767225600000.IwAR_OwnCookie"
AD_FBC = "fb.1.1767222000000.IwAR_TheAd"
LATER_FBC = "fb.1.1767225660000.IwAR_AnotherAd"


def purchase(**kw) -> dict:
    return {
        "tenant_id": "6f1c8a8e-0000-4000-8000-000000000001",
        "order_id": "o-1",
        "event_id": "a" * 64,
        "approved_at": T,
        "client_ip": "198.51.100.7",
        "user_agent": "gateway-seen UA",
        **kw,
    }


def match(**kw) -> dict:
    return {
        "click_id": 1,
        "fbc": LATER_FBC,
        "fbp": "fb.1.1767225660000.42",
        "client_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 click",
        "landing_url": "https://shop.example/lp",
        "external_id": None,
        **kw,
    }


# ------------------------------------------------------------------------------------------------ payload


def test_the_purchase_fbc_wins_over_the_matched_clicks():
    event = build_purchase_event(purchase(fbc=OWN_FBC), match(stage="deterministic", confidence=1.0))
    assert event["user_data"]["fbc"] == OWN_FBC
    assert event["user_data"]["fbp"] == "fb.1.1767225660000.42"  # the purchase carried no fbp of its own


@pytest.mark.parametrize(
    ("confidence", "gate", "lends"),
    [(0.85, 0.9, False), (0.85, 0.8, True), (0.9, 0.9, True), (None, 0.0, False)],
)
def test_a_probabilistic_match_lends_its_click_only_at_the_send_confidence(confidence, gate, lends):
    event = build_purchase_event(
        purchase(), match(stage="probabilistic", confidence=confidence), min_match_confidence=gate
    )
    ud = event["user_data"]
    if lends:
        assert event["action_source"] == "website" and event["event_source_url"] == "https://shop.example/lp"
        assert (ud["fbc"], ud["client_ip_address"], ud["client_user_agent"]) == (
            LATER_FBC,
            "203.0.113.7",
            "Mozilla/5.0 click",
        )
    else:  # its own data only: as if unmatched
        assert event["action_source"] == "other" and "event_source_url" not in event
        assert "fbc" not in ud and "fbp" not in ud
        assert (ud["client_ip_address"], ud["client_user_agent"]) == ("198.51.100.7", "gateway-seen UA")


def test_matches_without_a_recorded_confidence():
    """A probabilistic match from before confidences existed is not trusted; a caller passing bare click
    data (no stage) keeps the old behaviour."""
    assert build_purchase_event(purchase(), match(stage="probabilistic"))["action_source"] == "other"
    assert build_purchase_event(purchase(), match())["user_data"]["fbc"] == LATER_FBC


# ------------------------------------------------------------------------------------------ real engine


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("Own data")[0]


def _payload(conn, tenant_id: str, order_id: str) -> dict:
    return store.rebuild_payload(conn, event_id(tenant_id, order_id, "Purchase"))


def test_a_click_after_the_purchase_never_replaces_its_fbc(conn, pg_url, tenant):
    """The checkout carried the buyer's own fbc and session; the session's ad click came an hour before, and
    a page view with another fbc one minute after the (gateway-stamped) purchase. The match is the ad
    click, and the event carries the purchase's own fbc."""
    s = sid("own-1")
    ad = land_click(conn, tenant, session_id=s, occurred_at=T - timedelta(hours=1), fbc=AD_FBC)
    land_click(
        conn, tenant, session_id=s, occurred_at=T + timedelta(minutes=1), fbc=LATER_FBC, event_type="pageview"
    )
    land_conversion(conn, tenant, order_id="own-1", event_time=T, session_id=s, fbc=OWN_FBC)
    # without an fbc of its own, a purchase whose session only shows a later click still matches it
    s2 = sid("own-2")
    later = land_click(conn, tenant, session_id=s2, occurred_at=T + timedelta(minutes=1), fbc=LATER_FBC)
    land_conversion(conn, tenant, order_id="own-2", event_time=T, session_id=s2)
    batch.run_batch(pg_url, mode="incremental")

    rows = dict(
        conn.execute("SELECT order_id, click_id FROM core.matches WHERE tenant_id = %s", (tenant,)).fetchall()
    )
    assert rows == {"own-1": ad, "own-2": later}
    assert _payload(conn, tenant, "own-1")["user_data"]["fbc"] == OWN_FBC
    assert _payload(conn, tenant, "own-2")["user_data"]["fbc"] == LATER_FBC


def test_the_send_confidence_is_a_setting(conn, pg_url, tenant, setenv):
    """A visitor alone on the purchase's address an hour before, no user agent on either side: matched at
    about 0.86, below the default send confidence 0.9 -> own data only; with the setting at 0.8 the event
    carries the click's fbc."""
    land_click(
        conn,
        tenant,
        session_id="gate-1",
        occurred_at=T - timedelta(hours=1),
        client_ip="192.0.2.44",
        fbc=AD_FBC,
    )
    land_conversion(conn, tenant, order_id="gate-1", event_time=T, client_ip="192.0.2.44")
    batch.run_batch(pg_url, mode="incremental")
    stage, confidence = conn.execute(
        "SELECT stage, confidence::float8 FROM core.matches WHERE tenant_id = %s AND order_id = 'gate-1'",
        (tenant,),
    ).fetchone()
    assert stage == "probabilistic" and 0.8 <= confidence < 0.9

    event = _payload(conn, tenant, "gate-1")
    assert event["action_source"] == "other" and "fbc" not in event["user_data"]
    assert event["user_data"]["client_ip_address"] == "192.0.2.44"
    setenv("TRACKAI_MATCH_SEND_MIN_CONFIDENCE", "0.8")
    assert _payload(conn, tenant, "gate-1")["user_data"]["fbc"] == AD_FBC


def test_an_abstention_is_recorded_and_cleared_once_the_order_matches(conn, pg_url, tenant):
    """Twelve phones behind one address clicked within minutes: the stage abstains and says so on the
    purchase; a later delivery of the same order carries the session id, and the abstention goes."""
    ua = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
    for k in range(12):
        land_click(
            conn,
            tenant,
            session_id=f"nat-{k}",
            occurred_at=T - timedelta(minutes=3 + k),
            client_ip="187.20.100.10",
            user_agent=ua,
        )
    land_conversion(conn, tenant, order_id="nat-1", event_time=T, client_ip="187.20.100.10", user_agent=ua)
    batch.run_batch(pg_url, mode="incremental")
    reason, detail = conn.execute(
        "SELECT abstain_reason, abstain_detail FROM core.purchases WHERE tenant_id = %s AND order_id = 'nat-1'",
        (tenant,),
    ).fetchone()
    assert reason == "shared_address" and detail["visitors_address"] == 12 and detail["confidence"] < 0.8
    assert conn.execute("SELECT count(*) FROM core.matches WHERE order_id = 'nat-1'").fetchone()[0] == 0

    land_conversion(
        conn, tenant, order_id="nat-1", event_time=T, session_id="nat-3", client_ip="187.20.100.10"
    )
    batch.run_batch(pg_url, mode="incremental")
    assert conn.execute(
        "SELECT abstain_reason, abstain_detail FROM core.purchases WHERE tenant_id = %s AND order_id = 'nat-1'",
        (tenant,),
    ).fetchone() == (None, None)
    assert (
        conn.execute("SELECT stage FROM core.matches WHERE order_id = 'nat-1'").fetchone()[0]
        == "deterministic"
    )
