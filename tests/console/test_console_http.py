"""The console over HTTP (in process): sessions, login throttling, CSRF, headers, the buyer search, the
replay path and its guarantees, users and roles, the numbers against the database, Meta's score."""

from __future__ import annotations

import json
import logging
import re

import psycopg
import pytest
from console_client import Browserish, console_app, csrf_of

from dagster_project.defs.match_quality import evaluate_drift
from dagster_project.lib.resources import PostgresResource
from tests.support.world import PASSWORD, World, build_marts
from trackai import db
from trackai.console_data import meta_quality, users
from trackai.dispatch import run_dispatch
from trackai.settings import Settings
from trackai_cli import cli


@pytest.fixture(scope="module")
def app(world: World):
    return console_app(world.url)


def test_login_logout_and_a_closed_session_stays_closed(app, world: World) -> None:
    with Browserish(app) as b:
        wrong = b.login(world.a.email, "not the password at all")
        assert wrong.status_code == 401 and "E-mail ou senha incorretos." in wrong.text
        ok = b.login(world.a.email)
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
        stolen = b.client.cookies.get("trackai_console")
        assert b.get("/").status_code == 200
        out = b.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login?msg=logged_out"
    with Browserish(app) as replayer:  # the old cookie, presented again after logout
        replayer.client.cookies.set("trackai_console", stolen)
        again = replayer.get("/")
        assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_the_console_refuses_to_run_as_a_role_that_bypasses_row_level_security(world: World) -> None:
    from fastapi.testclient import TestClient

    from console.app import create_app

    app = create_app(Settings(), database_url=world.url)  # the tests' superuser
    with pytest.raises(RuntimeError, match="superuser or BYPASSRLS"), TestClient(app):
        pass


def test_login_attempts_are_rate_limited(world: World) -> None:
    limited = console_app(world.url, login_max_failures_email=3)
    with Browserish(limited) as b:
        codes = [b.login("seller-b@example.com", "wrong password here").status_code for _ in range(3)]
        blocked = b.login("seller-b@example.com")  # even the right password, once over the limit
    assert codes == [401, 401, 401]
    assert blocked.status_code == 429 and blocked.headers["retry-after"] == "900"
    assert "Muitas tentativas" in blocked.text
    with psycopg.connect(world.url, autocommit=True) as c:  # only hashes are kept
        keys = [r[0] for r in c.execute("SELECT key_hash FROM console.login_throttle").fetchall()]
    assert keys and all(len(k) == 64 and "@" not in k for k in keys)
    with psycopg.connect(world.url, autocommit=True) as c:
        c.execute("DELETE FROM console.login_throttle")


def test_state_changing_requests_need_this_sessions_csrf_token_and_origin(app, world: World) -> None:
    with Browserish(app) as anonymous:
        page = anonymous.get("/login")
        no_token = anonymous.client.post("/login", data={"email": world.a.email, "password": PASSWORD})
        assert no_token.status_code == 403 and "Pedido recusado" in no_token.text
        other_site = anonymous.client.post(
            "/login",
            data={"email": world.a.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            headers={"Origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
    with Browserish(app) as a, Browserish(app) as b:
        a.login(world.a.email)
        b.login(world.b.email)
        dlq_event = world.a.dlq_event_ids[-1]
        for response in (
            a.client.post("/failures/replay", data={"one": dlq_event}),
            a.client.post("/failures/replay", data={"one": dlq_event, "csrf_token": b.csrf}),
            a.client.post(
                "/failures/replay",
                data={"one": dlq_event, "csrf_token": a.csrf},
                headers={"Origin": "http://evil.example"},
            ),
            a.client.post("/logout", data={}),
        ):
            assert response.status_code == 403
        assert a.get("/").status_code == 200  # still logged in: the refused logout did nothing


def test_security_headers_on_pages_and_assets(app) -> None:
    with Browserish(app) as b:
        page = b.get("/login")
        asset = b.get("/static/console.js")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "same-origin"
    assert asset.status_code == 200 and asset.headers["cache-control"].startswith("public")


def test_buyer_search_finds_by_hash_and_never_carries_the_plaintext(app, world: World, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    buyer = next(p for p in world.a.purchases if p.phone)
    with Browserish(app) as b:
        b.login(world.a.email)
        by_email = b.post("/purchases/search", {"q": buyer.email.upper()})
        listing = b.get(by_email.headers["location"])
        by_phone = b.post("/purchases/search", {"q": buyer.phone})
        phone_listing = b.get(by_phone.headers["location"])
        by_order = b.get(f"/purchases?order={buyer.order_id}")
        empty = b.post("/purchases/search", {"q": "   "})
    for response in (by_email, by_phone):
        location = response.headers["location"]
        assert buyer.email not in location and buyer.email.upper() not in location
        assert "@" not in location and "98" not in location.split("=", 1)[0]
    assert (
        buyer.order_id in listing.text
        and buyer.order_id in phone_listing.text
        and buyer.order_id in by_order.text
    )
    assert (
        buyer.email not in listing.text and buyer.email not in caplog.text and buyer.phone not in caplog.text
    )
    assert empty.headers["location"] == "/purchases?search_error=1"


def test_filters_and_keyset_pages_cover_every_purchase_once(world: World) -> None:
    small = console_app(world.url, page_size=5)
    with Browserish(small) as b, psycopg.connect(world.url, autocommit=True) as c:
        b.login(world.a.email)
        seen, url = [], "/purchases"
        while url:
            page = b.get(url).text
            seen += re.findall(r'<th scope="row"><a href="/purchases/[^"]+">([^<]+)</a>', page)
            nxt = re.findall(r'<a href="([^"]+)" rel="next">', page)
            url = nxt[0].replace("&amp;", "&") if nxt else None
        total = c.execute(
            "SELECT count(*) FROM core.purchases WHERE tenant_id = %s", (world.a.tenant_id,)
        ).fetchone()[0]
        assert len(seen) == len(set(seen)) == total
        dlq = b.get("/purchases?state=dlq").text
        for event_id in world.a.dlq_event_ids:
            order = c.execute(
                "SELECT order_id FROM core.purchases WHERE event_id = %s", (event_id,)
            ).fetchone()[0]
            assert order in dlq
        kiwify = b.get("/purchases?gateway=kiwify&match=unmatched").text
        expected = c.execute(
            """SELECT count(*) FROM core.purchases p LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
                WHERE p.tenant_id = %s AND p.gateway = 'kiwify' AND p.approved_at IS NOT NULL AND m.click_id IS NULL""",
            (world.a.tenant_id,),
        ).fetchone()[0]
        assert kiwify.count('href="/purchases/kiwify/') == min(expected, 5)


def test_state_filters_select_exactly_the_rows_of_each_shown_state(world: World) -> None:
    from console.queries import DISPATCH_STATES, STATE_FILTERS

    with psycopg.connect(world.url, autocommit=True) as c:
        c.execute(  # one event of each kind besides sent/dlq: pending after a failure, failed (backoff), held
            """WITH picked AS (SELECT event_id, row_number() OVER (ORDER BY event_id) AS n FROM ops.dispatch_queue
                                WHERE tenant_id = %s AND status = 'sent' LIMIT 3)
               UPDATE ops.dispatch_queue q SET status = (ARRAY['pending','pending','blocked'])[p.n], sent_at = NULL,
                      attempts = 2, next_attempt_at = now() + (ARRAY[interval '-1 minute', interval '5 minutes',
                      interval '0'])[p.n]
                 FROM picked p WHERE q.event_id = p.event_id""",
            (world.b.tenant_id,),
        )
        shown = {
            state: {
                r[0]
                for r in c.execute(
                    "SELECT order_id FROM analytics.console_purchase_journeys WHERE tenant_id = %s AND dispatch_state = %s",
                    (world.b.tenant_id, state),
                )
            }
            for state in DISPATCH_STATES
        }
        filtered = {
            state: {
                r[0]
                for r in c.execute(
                    f"SELECT order_id FROM analytics.console_purchase_journeys WHERE tenant_id = %s AND {STATE_FILTERS[state].format(j='')}",
                    (world.b.tenant_id,),
                )
            }
            for state in DISPATCH_STATES
        }
    assert filtered == shown
    assert len(shown["pending"]) >= 1 and len(shown["failed"]) == 2 and shown["sent"]


def test_overview_numbers_are_the_databases(app, world: World) -> None:
    with psycopg.connect(world.url, autocommit=True) as c:
        purchases, matched, revenue = c.execute(
            """SELECT count(*), count(m.click_id), sum(p.amount) FROM core.purchases p
                 LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
                WHERE p.tenant_id = %s AND p.approved_at IS NOT NULL""",
            (world.a.tenant_id,),
        ).fetchone()
        sent, dlq = c.execute(
            """SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'dlq')
                 FROM ops.dispatch_queue WHERE tenant_id = %s""",
            (world.a.tenant_id,),
        ).fetchone()
    with Browserish(app) as b:
        b.login(world.a.email)
        page = b.get("/?window=7").text
    assert f'data-kpi="purchases">{purchases}<' in page
    assert f'data-kpi="matched">{matched}<' in page
    assert f'data-kpi="sent">{sent}<' in page and f'data-kpi="dlq">{dlq}<' in page
    assert f"R$\xa0{revenue:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") in page


def test_stored_and_live_days_are_the_same_rule(world: World) -> None:
    build_marts(world.url)  # the stored table recomputed after the seeding's dispatch
    with psycopg.connect(world.url, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        stored = c.execute(
            "SELECT * FROM analytics.console_daily_metrics WHERE metric_date = (now() AT TIME ZONE 'UTC')::date ORDER BY tenant_id"
        ).fetchall()
        live = c.execute(
            "SELECT * FROM analytics.console_daily_metrics_today WHERE metric_date = (now() AT TIME ZONE 'UTC')::date ORDER BY tenant_id"
        ).fetchall()
    drop = {"computed_at", "is_final"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in stored] == live
    assert stored and not any(r["is_final"] for r in stored)


def test_replay_takes_the_library_path_records_who_and_never_resends_an_accepted_event(
    app, world: World
) -> None:
    first, second = world.a.dlq_event_ids
    with psycopg.connect(
        world.url, autocommit=True
    ) as c:  # make `second` look accepted by Meta (sent_at set)
        c.execute(
            "UPDATE ops.dispatch_queue SET status = 'sent', sent_at = now() WHERE event_id = %s", (second,)
        )
    world.fake.configure(reject_event_ids=[])
    with Browserish(app) as b:
        b.login(world.a.email)
        page = b.get("/failures").text
        assert "A Meta recusou o evento" in page and "já aceitou" in page
        done = b.post("/failures/replay", {"event_ids": [first, second]})
        outcome = b.get(done.headers["location"]).text
        again = b.get(b.post("/failures/replay", {"one": first}).headers["location"]).text
    assert "Recolocados na fila: 1. Recusados: 1." in outcome and "já aceito pela Meta" in outcome
    assert "Recolocados na fila: 0. Recusados: 1." in again and "não está na DLQ desta conta" in again
    with psycopg.connect(world.url, autocommit=True) as c:
        queue = dict(
            c.execute(
                "SELECT event_id, status FROM ops.dispatch_queue WHERE event_id = ANY(%s)", ([first, second],)
            ).fetchall()
        )
        audit = c.execute(
            "SELECT user_email, detail FROM console.audit_log WHERE action = 'replay' AND tenant_id = %s ORDER BY audit_id",
            (world.a.tenant_id,),
        ).fetchall()
        assert queue == {first: "pending", second: "sent"}
        assert audit[-2][0] == world.a.email and audit[-2][1]["replayed"] == [first]
        assert audit[-2][1]["refused"] == {second: "accepted"}
        before = world.fake.event_ids().count(first)
        run_dispatch(
            c, Settings(meta_graph_url=world.fake.url), sleep=lambda s: None, tenant_id=world.a.tenant_id
        )
        assert world.fake.event_ids().count(first) == before + 1
        assert world.fake.event_ids().count(second) == world.fake.event_ids().count(second)  # never re-sent
        assert (
            c.execute("SELECT status FROM ops.dispatch_queue WHERE event_id = %s", (first,)).fetchone()[0]
            == "sent"
        )
    with Browserish(app) as b:
        b.login(world.a.email)
        live = b.get(done.headers["location"] + "/live").text
    assert "Enviada" in live


def test_users_from_the_cli_invite_reset_disable(app, world: World, capsys, setenv) -> None:
    setenv("TRACKAI_DATABASE_URL", world.url)
    setenv("TRACKAI_CONSOLE_PUBLIC_URL", "http://testserver")
    assert (
        cli.main(["user", "create", "--email", "New.Seller@Example.com", "--tenant", world.b.tenant_id]) == 0
    )
    invite = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert invite["email"] == "new.seller@example.com" and invite["invite_url"].startswith(
        "http://testserver/invite/"
    )
    path = invite["invite_url"].removeprefix("http://testserver")
    with Browserish(app) as b:
        page = b.get(path)
        assert "new.seller@example.com" in page.text
        short = b.client.post(
            path, data={"password": "short", "confirm": "short", "csrf_token": csrf_of(page.text)}
        )
        assert short.status_code == 400
        set_ = b.client.post(
            path,
            data={
                "password": "a long enough secret",
                "confirm": "a long enough secret",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert set_.status_code == 303 and b.get("/").status_code == 200
        assert b.get(path).status_code == 404  # the link is spent
    with Browserish(app) as b:
        assert b.login("new.seller@example.com", "a long enough secret").status_code == 303
        assert cli.main(["user", "reset", "--email", "new.seller@example.com"]) == 0
        assert b.get("/").status_code == 303  # the reset ended the session
    assert "invite_url" in capsys.readouterr().out
    with Browserish(app) as b:
        assert b.login("new.seller@example.com", "a long enough secret").status_code == 401
    assert cli.main(["user", "disable", "--email", world.b.email]) == 0
    with Browserish(app) as b:
        assert b.login(world.b.email).status_code == 401
    assert cli.main(["user", "enable", "--email", world.b.email]) == 0
    assert (
        cli.main(
            [
                "user",
                "create",
                "--email",
                "x@example.com",
                "--role",
                "operator",
                "--tenant",
                world.b.tenant_id,
            ]
        )
        == 1
    )
    capsys.readouterr()
    assert cli.main(["user", "list", "--tenant", world.b.tenant_id]) == 0
    listed = {u["email"]: u for u in json.loads(capsys.readouterr().out)}
    assert listed["new.seller@example.com"]["has_password"] is False  # reset, link not used yet
    assert listed[world.b.email]["active"] is True and "x@example.com" not in listed


def test_demo_users_are_idempotent_and_development_only(app, world: World) -> None:
    with db.connect(world.url) as c:
        first = users.ensure_demo_users(c, [world.a.tenant_id])
        again = users.ensure_demo_users(c, [world.a.tenant_id])
        with pytest.raises(users.UserError):
            users.ensure_demo_users(
                c,
                [world.a.tenant_id],
                Settings(env="production", secret_key=None, database_url=world.url, secrets_backend="aws"),
            )
    assert [(x.email, x.password) for x in first] == [(x.email, x.password) for x in again]
    seller, operator = again
    assert seller.role == "seller" and operator.role == "operator" and seller.tenant_id == world.a.tenant_id
    with Browserish(app) as b:
        assert b.login(seller.email, seller.password).status_code == 303


def test_operator_sees_every_tenant_and_picks_one_explicitly(app, world: World) -> None:
    with Browserish(app) as op:
        landed = op.login(world.operator_email)
        assert landed.headers["location"] == "/operator/tenants"
        listing = op.get("/operator/tenants").text
        assert world.a.name in listing and world.b.name in listing
        assert op.get("/").headers["location"] == "/operator/tenants"  # no tenant chosen yet
        assert op.post("/operator/act-as", {"tenant_id": world.b.tenant_id}).status_code == 303
        page = op.get("/setup").text
        assert world.b.pixel_id in page and world.a.pixel_id not in page
    with psycopg.connect(world.url, autocommit=True) as c:
        assert (
            c.execute(
                "SELECT count(*) FROM console.audit_log WHERE action = 'act_as' AND tenant_id = %s",
                (world.b.tenant_id,),
            ).fetchone()[0]
            == 1
        )


def test_metas_score_is_pulled_daily_and_drift_raises_the_alarm(app, world: World) -> None:
    import httpx

    httpx.post(
        f"{world.fake.url}/_mock/dataset_quality", json={"pixel_id": world.a.pixel_id, "composite_score": 2.5}
    )
    try:
        with db.connect(world.url) as c:
            summary = meta_quality.pull_all(c, Settings(meta_graph_url=world.fake.url))
        assert summary[world.a.tenant_id] == {"events": 1} and summary[world.b.tenant_id] == {"events": 1}
        check = evaluate_drift(PostgresResource(url=world.url))
        drifting = check.metadata["drifting"].data
        assert not check.passed and [d["tenant_id"] for d in drifting] == [world.a.tenant_id]
        with Browserish(app) as b:
            b.login(world.a.email)
            page = b.get("/quality").text
        assert "Alarme: nossa estimativa e a nota da Meta divergem" in page and "2,5" in page
    finally:
        httpx.post(
            f"{world.fake.url}/_mock/dataset_quality",
            json={"pixel_id": world.a.pixel_id, "composite_score": None},
        )
    with db.connect(world.url) as c:
        bad = meta_quality.pull_all(c, Settings(meta_graph_url=world.fake.url + "/nowhere"))
    assert all("error" in r for r in bad.values())
