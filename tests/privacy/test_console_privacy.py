"""The console's LGPD screen (operators only): the request log with deadlines, filtered counts, and a
request served from the form (export shows the report with recipients and Meta's statement, delete needs
the confirmation and erases). The console itself connects as trackai_console; serving runs on
TRACKAI_PRIVACY_DATABASE_URL."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from trackai import db
from trackai.console_data import users
from trackai.core import pii
from trackai.settings import Settings

pytestmark = pytest.mark.integration
PASSWORD = "privacy-console-pass-23"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BUYER = "Console.Buyer@Example.com"


def _login(client: TestClient, email: str) -> None:
    page = client.get("/login")
    token = CSRF.search(page.text).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def console(pg_url, conn, make_tenant):
    tenant, _ = make_tenant(pixel_id="9090909090")
    for email, role, owner in (
        ("op@trackai.example", "operator", None),
        ("seller@shop.example", "seller", tenant),
    ):
        conn.execute("DELETE FROM console.users WHERE email = %s", (email,))
        users.create_user(conn, email=email, role=role, tenant_id=owner, password=PASSWORD)
    now = datetime.now(UTC)
    h = pii.hash_email(BUYER)
    conn.execute(
        "INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, email_hash, fbc) VALUES (%s, 's-c', %s, %s, "
        "'fb.1.1700000000000.consoleFbclid')",
        (tenant, now, h),
    )
    conn.execute(
        "INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, bot_reason) VALUES (%s, 's-bot', %s, 'known_bot')",
        (tenant, now),
    )
    event_id = secrets.token_hex(32)
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       first_conversion_id, last_conversion_id, email_hash)
           VALUES (%s, 'kiwify', 'console-order-1', %s, 'approved', %s, %s, 1, 1, %s)""",
        (tenant, event_id, now, now.date(), h),
    )
    conn.execute(
        "INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name) "
        "VALUES (%s, %s, 'kiwify', 'console-order-1', 'Purchase')",
        (event_id, tenant),
    )
    conn.execute(
        """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status, http_status)
           VALUES (%s, %s, 'kiwify', '9090909090', 1, 'success', 200)""",
        (tenant, event_id),
    )
    settings = Settings(console={"public_url": "http://testserver"}, privacy={"database_url": pg_url})
    app = create_app(settings, database_url=db.with_user(pg_url, "trackai_console"))
    with TestClient(app, follow_redirects=False, client=("127.0.0.1", 40000)) as client:
        yield client, tenant


def test_sellers_do_not_see_the_screen(console) -> None:
    client, _ = console
    _login(client, "seller@shop.example")
    assert client.get("/operator/privacy").status_code == 404


def test_operator_exports_then_deletes_from_the_console(console, conn) -> None:
    client, tenant = console
    _login(client, "op@trackai.example")
    page = client.get("/operator/privacy")
    csrf = CSRF.search(page.text).group(1)
    assert page.status_code == 200 and 'href="/operator/privacy"' in page.text
    assert "LGPD" in page.text
    exported = client.post(
        "/operator/privacy",
        data={"csrf_token": csrf, "tenant_id": tenant, "kind": "email", "value": BUYER, "action": "export"},
    )
    assert exported.status_code == 200, exported.text
    assert "9090909090" in exported.text and "não oferece meio de apagar" in exported.text
    assert pii.hash_email(BUYER) in exported.text and BUYER not in exported.text
    refused = client.post(
        "/operator/privacy",
        data={"csrf_token": csrf, "tenant_id": tenant, "kind": "email", "value": BUYER, "action": "delete"},
    )
    assert refused.status_code == 422 and "confirma" in refused.text
    erased = client.post(
        "/operator/privacy",
        data={
            "csrf_token": csrf,
            "tenant_id": tenant,
            "kind": "email",
            "value": BUYER,
            "action": "delete",
            "confirm": "yes",
        },
    )
    assert erased.status_code == 200, erased.text
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.clicks WHERE tenant_id = %s AND email_hash IS NOT NULL", (tenant,)
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute("SELECT count(*) FROM core.purchases WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0
    )
    assert (
        conn.execute("SELECT count(*) FROM core.dedupe_registry WHERE tenant_id = %s", (tenant,)).fetchone()[
            0
        ]
        == 1
    )
    log = client.get("/operator/privacy").text
    assert "console:op@trackai.example" in log and ("Excluído" in log or "Erased" in log)
    # the bot click is counted in the filtered table
    assert re.search(r"<td class=\"num\">1</td>", log)
    bad = client.post(
        "/operator/privacy",
        data={
            "csrf_token": csrf,
            "tenant_id": tenant,
            "kind": "email",
            "value": "not-an-email",
            "action": "export",
        },
    )
    assert bad.status_code == 422 and "not-an-email" not in bad.text.split("<main", 1)[1].split("value=")[0]
    assert client.post("/operator/privacy", data={"tenant_id": tenant}).status_code in (400, 403)
