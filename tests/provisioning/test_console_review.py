"""The console's provisioning page and review screen, as the console role under row-level security: the
step table, the workspace diff a person approves (who and when recorded), the publish that follows only
with the test event, the snippets from the first-party host, and another tenant seeing none of it."""

from __future__ import annotations

import re

import psycopg
import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from trackai import db
from trackai.console_data.users import ensure_demo_users
from trackai.provisioning import saga
from trackai.settings import Settings
from trackai.setup import gates
from trackai_cli.provision_fakes.server import ProvisionFakes

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


pytestmark = pytest.mark.usefixtures("console_marts")


def _login(client: TestClient, email: str, password: str) -> str:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": CSRF.search(page.text).group(1),
            "next": "/",
        },
    )
    assert response.status_code == 303, response.text
    return CSRF.search(client.get("/provisioning").text).group(1)


def _run(conn, settings, tenant: str) -> tuple[str, str]:
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    clients = saga.build_clients(settings)
    try:
        return run_id, saga.run_saga(conn, clients, run_id, settings, backoff_seconds=0.05)
    finally:
        clients.close()


def test_review_screen_records_who_approved_and_publish_follows_the_gate(
    pg_url: str, conn: psycopg.Connection, settings: Settings, make_tenant, fakes: ProvisionFakes
) -> None:
    tenant_a, _ = make_tenant(name="Loja A")
    tenant_b, _ = make_tenant(name="Loja B")
    logins = {
        login.tenant_id: login for login in ensure_demo_users(conn, [tenant_a, tenant_b]) if login.tenant_id
    }
    app = create_app(
        Settings(console={"public_url": "http://testserver"}),
        database_url=db.with_user(pg_url, "trackai_console"),
    )
    with TestClient(app, follow_redirects=False, client=("127.0.0.1", 40000)) as client:
        csrf = _login(client, logins[tenant_a].email, logins[tenant_a].password)
        page = client.get("/provisioning")
        assert page.status_code == 200 and "Nenhum provisionamento ainda" in page.text

        # the seller asks; the request is a row the Dagster sensor picks up
        response = client.post("/provisioning/start", data={"csrf_token": csrf})
        assert response.status_code == 303 and response.headers["location"] == "/provisioning?notice=started"
        requested = saga.open_run(conn, tenant_a)
        assert requested["state"] == "requested" and requested["origin"] == "console"
        assert requested["requested_by"] == logins[tenant_a].email
        assert (
            client.post("/provisioning/start", data={"csrf_token": csrf})
            .headers["location"]
            .endswith("already")
        )

        # (the saga runs - here in process - up to the blocked publish)
        run_id, state = _run(conn, settings, tenant_a)
        assert run_id == str(requested["run_id"]) and state == "waiting"
        page = client.get("/provisioning").text
        assert 'data-step="gtm_publish" data-state="blocked"' in page
        assert "TrackAI - Purchase (Pixel, shared event_id)" in page  # the diff under review
        assert "ainda não passou" in page  # the test event has not passed
        assert 'action="/provisioning/approve"' in page

        refused = client.post("/provisioning/approve", data={"run_id": run_id})  # no CSRF token
        assert refused.status_code == 403
        response = client.post("/provisioning/approve", data={"csrf_token": csrf, "run_id": run_id})
        assert response.status_code == 303
        approval = conn.execute(
            "SELECT approved_by, approved_by_user_id, diff_fingerprint, approved_at FROM provisioning.approvals "
            "WHERE tenant_id = %s",
            (tenant_a,),
        ).fetchall()
        assert len(approval) == 1 and approval[0][0] == logins[tenant_a].email and approval[0][1] is not None
        page = client.get("/provisioning").text
        assert f"Aprovado por {logins[tenant_a].email}" in page
        assert 'action="/provisioning/approve"' not in page  # approved: no second button

        assert _run(conn, settings, tenant_a)[1] == "waiting"  # still no test event
        gates.record_pass(conn, tenant_a, "test_capi_event", "a" * 64, "setup-test", {})
        assert _run(conn, settings, tenant_a)[1] == "succeeded"
        track = saga.tracking(conn, tenant_a)
        page = client.get("/provisioning").text
        assert track["tagging_server_url"] in page and f"{track['tagging_server_url']}/gtm.js?id=" in page
        assert track["gtm_public_id"] in page and "crypto.subtle.digest" in page
        setup_page = client.get("/setup")  # the setup page's card reads the same tracking row
        assert setup_page.status_code == 200
        card = setup_page.text[setup_page.text.index('id="provisioning-card"') :]
        assert (
            track["hostname"] in card
            and track["tagging_server_url"] in card
            and track["gtm_public_id"] in card
        )
        assert f"{track['tagging_server_url']}/gtm.js?id=" in card and "crypto.subtle.digest" in card

        # tenant B's seller: sees nothing of A, cannot approve A's run
        client.cookies.clear()
        csrf_b = _login(client, logins[tenant_b].email, logins[tenant_b].password)
        page_b = client.get("/provisioning").text
        assert run_id not in page_b and track["hostname"] not in page_b and "Nenhum provisionamento" in page_b
        setup_b = client.get("/setup").text
        assert "Ainda não provisionado" in setup_b and track["hostname"] not in setup_b
        response = client.post("/provisioning/approve", data={"csrf_token": csrf_b, "run_id": run_id})
        assert response.status_code == 400
        assert (
            conn.execute(
                "SELECT count(*) FROM provisioning.approvals WHERE tenant_id = %s", (tenant_b,)
            ).fetchone()[0]
            == 0
        )
