"""Issue 23, clean signals: consent-off clicks land without identifiers; bot clicks are flagged at ingest,
kept and never matched; gateway test deliveries and the tenant's test orders never reach the Graph API
fake nor billing (never registered, never queued). Real ingest app (role trackai_app_rw), real micro-batch
and dispatch against trackai_cli.capi_mock."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db
from trackai.core import bots, consent, pii
from trackai.core.session_id import new_session_id
from trackai.privacy import settings as privacy_settings
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36"


# --- pure rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "address", "kwargs", "reason"),
    [
        (CHROME, "198.51.100.1", {}, None),
        (GOOGLEBOT, "198.51.100.1", {}, "known_bot"),
        ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", None, {}, "known_bot"),
        ("python-requests/2.31", None, {}, "known_bot"),
        ("curl/8.5.0", None, {}, "known_bot"),
        (HEADLESS, None, {}, "headless"),
        (
            CHROME,
            "34.200.1.9",
            {"blocked_networks": bots.parse_networks(["34.192.0.0/10"])},
            "blocked_network",
        ),
        (
            CHROME,
            "::ffff:34.200.1.9",
            {"blocked_networks": bots.parse_networks(["34.192.0.0/10"])},
            "blocked_network",
        ),
        (CHROME, "35.1.1.1", {"blocked_networks": bots.parse_networks(["34.192.0.0/10"])}, None),
        (CHROME, None, {"automation": True}, "automation"),
        (
            CHROME,
            None,
            {"session_clicks_this_minute": 21, "max_session_clicks_per_minute": 20},
            "impossible_rate",
        ),
        (CHROME, None, {"session_clicks_this_minute": 20, "max_session_clicks_per_minute": 20}, None),
        (None, None, {}, None),
    ],
)
def test_bot_rules(ua, address, kwargs, reason) -> None:
    assert bots.classify(ua, address, **kwargs) == reason


def test_consent_rules() -> None:
    assert consent.consent_denied(True, None) and consent.consent_denied(True, False)
    assert not consent.consent_denied(True, True) and not consent.consent_denied(False, None)
    row = {
        "email_hash": "a" * 64,
        "phone_hash": "b" * 64,
        "fbc": "fb.1.1.x",
        "fbp": "fb.1.1.2",
        "fbclid": "x",
        "client_ip": "1.2.3.4",
        "user_agent": CHROME,
        "external_id": "e",
        "session_id": "s",
        "landing_url": "https://a.example/p?utm_source=fb&fbclid=x",
        "referrer": "https://l.facebook.com/?fbclid=x",
    }
    out = consent.without_identifiers(row)
    assert all(out[k] is None for k in consent.IDENTIFIER_FIELDS)
    assert (
        out["landing_url"] == "https://a.example/p?utm_source=fb"
        and out["referrer"] == "https://l.facebook.com/"
    )
    assert out["session_id"] == "s" and out["consent_denied"] is True


# --- through the ingest service -------------------------------------------------------------------------


def _client(pg_url: str, address: str, ua: str = CHROME, **settings) -> TestClient:
    app = create_app(
        Settings(metrics_port=0, **settings), database_url=db.with_user(pg_url, "trackai_app_rw")
    )
    return TestClient(app, client=(address, 50000), headers={"user-agent": ua})


def _click(conn: psycopg.Connection, click_id: int) -> dict:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        """SELECT session_id, landing_url, referrer, fbclid, fbc, fbp, host(client_ip) AS client_ip, user_agent,
                  email_hash, phone_hash, external_id, consent_denied, bot_reason
             FROM landing.clicks WHERE click_id = %s""",
        (click_id,),
    ).fetchone()


def test_consent_off_clicks_land_without_identifiers(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    privacy_settings.update(conn, tenant, actor="test", consent_required=True)
    sid = new_session_id()
    body = {
        "tenant_id": tenant,
        "session_id": sid,
        "event_type": "lead",
        "url": "https://shop.example/lp?utm_source=fb&fbclid=IwARconsentless123",
        "referrer": "https://l.facebook.com/l.php?fbclid=IwARconsentless123",
        "fbc": "fb.1.1700000000000.IwARconsentless123",
        "fbp": "fb.1.1700000000000.1234567890",
        "email": "consent.off@example.com",
        "phone": "(11) 91234-5678",
        "external_id": "crm-77",
    }
    with _client(pg_url, "198.51.100.30") as client:
        denied = client.post("/api/v1/track/click", json=body)
        granted = client.post("/api/v1/track/click", json={**body, "consent": True})
        explicit_no = client.post("/api/v1/track/click", json={**body, "consent": False})
    assert denied.status_code == granted.status_code == explicit_no.status_code == 202
    for response in (denied, explicit_no):
        row = _click(conn, response.json()["click_id"])
        assert row["consent_denied"] is True
        for name in (
            "fbclid",
            "fbc",
            "fbp",
            "client_ip",
            "user_agent",
            "email_hash",
            "phone_hash",
            "external_id",
        ):
            assert row[name] is None, name
        assert "fbclid" not in row["landing_url"] and "utm_source=fb" in row["landing_url"]
        assert "fbclid" not in row["referrer"]
        assert row["session_id"] == sid
    row = _click(conn, granted.json()["click_id"])
    assert row["consent_denied"] is False and row["fbc"] and row["client_ip"] == "198.51.100.30"
    assert row["email_hash"] == pii.hash_email("consent.off@example.com")
    identities = conn.execute(
        "SELECT count(*) FROM landing.identities WHERE tenant_id = %s", (tenant,)
    ).fetchone()[0]
    assert identities == 1  # only the consented lead left an identity
    # A tenant that does not require consent keeps identifiers without any consent field.
    other, _ = make_tenant()
    with _client(pg_url, "198.51.100.31") as client:
        plain = client.post("/api/v1/track/click", json={**body, "tenant_id": other})
    row = _click(conn, plain.json()["click_id"])
    assert row["consent_denied"] is False and row["email_hash"] and row["fbc"]


def test_bots_flagged_at_ingest_kept_never_matched_test_orders_never_sent(pg_url, conn, make_tenant) -> None:
    from trackai.dispatch import DispatchOptions, run_dispatch
    from trackai.pipeline.batch import run_batch
    from trackai_cli.capi_mock import MockConfig, MockServer

    tenant, gw = make_tenant(pixel_id="2323232323")
    privacy_settings.update(
        conn, tenant, actor="test", block=["34.192.0.0/10"], test_emails=["seller.tests@example.com"]
    )
    sid_bot, sid_headless, sid_dc, sid_fast, sid_human = (new_session_id() for _ in range(5))
    bot_fbclid = "IwARbotclick" + "b" * 20
    flagged = {}
    with _client(pg_url, "198.51.100.40", GOOGLEBOT) as c:
        r = c.post(
            "/api/v1/track/click",
            json={
                "tenant_id": tenant,
                "session_id": sid_bot,
                "url": f"https://shop.example/lp?fbclid={bot_fbclid}",
            },
        )
        flagged["known_bot"] = r.json()
    with _client(pg_url, "198.51.100.41", HEADLESS) as c:
        flagged["headless"] = c.post(
            "/api/v1/track/click", json={"tenant_id": tenant, "session_id": sid_headless}
        ).json()
    with _client(pg_url, "34.200.10.10") as c:
        flagged["blocked_network"] = c.post(
            "/api/v1/track/click", json={"tenant_id": tenant, "session_id": sid_dc}
        ).json()
    with _client(pg_url, "198.51.100.43") as c:
        flagged["automation"] = c.post(
            "/api/v1/track/click", json={"tenant_id": tenant, "session_id": sid_human, "automation": True}
        ).json()
    with _client(pg_url, "198.51.100.44", privacy={"bot_max_clicks_per_session_per_min": 3}) as c:
        answers = [
            c.post("/api/v1/track/click", json={"tenant_id": tenant, "session_id": sid_fast}).json()
            for _ in range(5)
        ]
        flagged["impossible_rate"] = answers[-1]
        assert _click(conn, answers[0]["click_id"])["bot_reason"] is None
    for reason, answer in flagged.items():
        assert _click(conn, answer["click_id"])["bot_reason"] == reason, reason

    bot_session_order = str(uuid.uuid4())
    orders = {
        "bot_session": (
            "kiwify",
            bot_session_order,
        ),  # a real purchase whose checkout carried the bot's session
        "livemode_false": ("stripe", f"pi_{uuid.uuid4().hex[:20]}"),
        "hotmart_test": ("hotmart", f"HP{uuid.uuid4().int % 10**12}"),
        "tenant_marked": ("kiwify", str(uuid.uuid4())),
        "test_buyer": ("kiwify", str(uuid.uuid4())),
        "real": ("kiwify", str(uuid.uuid4())),
    }
    assert (
        privacy_settings.mark_test_order(conn, tenant, "kiwify", orders["tenant_marked"][1], "test")
        == "marked"
    )
    with _client(pg_url, "198.51.100.50") as c:
        for name, (gateway, order_id) in orders.items():
            email = "seller.tests@example.com" if name == "test_buyer" else f"{name}@example.com"
            payload = build_payload(
                gateway,
                order_id=order_id,
                email=email,
                session_id=sid_bot if name == "bot_session" else None,
                product_id="0" if name == "hotmart_test" else None,
            )
            if name == "livemode_false":
                payload["livemode"] = False
            headers, query, body = sign_request(gateway, gw[gateway], json.dumps(payload).encode())
            resp = c.post(f"/api/v1/webhooks/{gateway}/{tenant}", content=body, headers=headers, params=query)
            assert resp.status_code == 200, (name, resp.text)

    run_batch(pg_url, mode="incremental")
    with MockServer(MockConfig(seed=5)) as fake:
        summary = run_dispatch(
            conn,
            Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 0.5}),
            sleep=lambda s: None,
            options=DispatchOptions(),
        )
        sent = fake.events
    reasons = dict(
        conn.execute(
            "SELECT order_id, test_reason FROM core.purchases WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    )
    assert reasons[orders["livemode_false"][1]] == "gateway_test"
    assert reasons[orders["hotmart_test"][1]] == "gateway_test"
    assert reasons[orders["tenant_marked"][1]] == "tenant_marked"
    assert reasons[orders["test_buyer"][1]] == "test_buyer"
    assert reasons[orders["real"][1]] is None and reasons[orders["bot_session"][1]] is None
    registered = {
        r[0]
        for r in conn.execute("SELECT order_id FROM core.dedupe_registry WHERE tenant_id = %s", (tenant,))
    }
    assert registered == {orders["real"][1], orders["bot_session"][1]}
    assert summary.get("sent", 0) == 2 and len(sent) == 2
    # The bot's click lent nothing to the purchase that carried its session: no match, no fbc/IP/UA of it.
    assert (
        conn.execute("SELECT count(*) FROM core.matches WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0
    )
    blob = json.dumps(sent).lower()
    assert bot_fbclid.lower() not in blob and "googlebot" not in blob and "198.51.100.40" not in blob
    assert "34.200.10.10" not in blob and "headlesschrome" not in blob
    # Nothing of the test orders was ever attempted, so billing (success attempts, C2) cannot count them.
    assert (
        conn.execute(
            "SELECT count(DISTINCT event_id) FROM ops.dispatch_attempts WHERE tenant_id = %s", (tenant,)
        ).fetchone()[0]
        == 2
    )
    # Marking an order already registered says so (it may have been sent: Meta keeps it).
    assert (
        privacy_settings.mark_test_order(conn, tenant, "kiwify", orders["real"][1], "test")
        == "already_registered"
    )


def test_settings_refuse_bad_networks_and_store_test_buyers_hashed(conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    with pytest.raises(ValueError):
        privacy_settings.update(conn, tenant, actor="t", block=["not-a-network"])
    with pytest.raises(ValueError):
        privacy_settings.update(conn, tenant, actor="t", test_emails=["nope"])
    out = privacy_settings.update(
        conn, tenant, actor="t", block=["10.0.0.0/8", "2001:db8::/32"], test_phones=["(11) 98888-7777"]
    )
    assert out["blocked_networks"] == ["10.0.0.0/8", "2001:db8::/32"] and out["test_buyers"] == 1
    stored = conn.execute(
        "SELECT test_phone_hashes::text FROM privacy.tenant_settings WHERE tenant_id = %s", (tenant,)
    ).fetchone()[0]
    assert pii.hash_phone("(11) 98888-7777") in stored and "98888" not in stored
    out = privacy_settings.update(conn, tenant, actor="t", unblock=["10.0.0.0/8"])
    assert out["blocked_networks"] == ["2001:db8::/32"]
