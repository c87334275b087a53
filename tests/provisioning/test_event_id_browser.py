"""Pixel-CAPI dedupe in a real browser (the shared ``browser`` fixture, tests/conftest.py): a Hotmart purchase
goes through ingest and the micro-batch (the server's event_id lands in core.purchases), then Chromium loads
the thank-you page with our snippet, and a page running the GTM template's Purchase tag; both send
fbq('track', 'Purchase', ..., {eventID}) with the very event_id the server sends to CAPI for that order."""

from __future__ import annotations

import json
import secrets as pysecrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ingest_service.main import create_app
from trackai import db
from trackai.core import provisioning_plan as plan
from trackai.core.event_id import event_id
from trackai.core.thankyou_snippet import EVENT_ID_JS, render_thankyou_snippet
from trackai.pipeline.batch import run_batch
from trackai.provisioning.saga import load_template
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request
from trackai_cli.loopback_server import LoopbackServer

FBQ_STUB = "<script>window.__fbq=[];window.fbq=function(){window.__fbq.push(Array.prototype.slice.call(arguments));};</script>"


def _purchase_tag_html(tenant_id: str, order_id: str) -> str:
    """The template's Purchase tag as GTM would run it: {{Variables}} replaced by their values."""
    values = {
        "pixel_id": "1234567890",
        "server_url": "https://x.track.example.com",
        "domain": "example.com",
        "tenant_id": tenant_id,
        "event_id_js": EVENT_ID_JS,
        "measurement_id": "G-1",
    }
    tags = {t["name"]: t for t in plan.render_template(load_template(), values)["tags"]}
    html = tags["TrackAI - Purchase (Pixel, shared event_id)"]["parameter"][0]["value"]
    return html.replace("{{TrackAI - Tenant ID}}", tenant_id).replace("{{TrackAI - Order ID}}", order_id)


@pytest.fixture
def pages(tenant_id_and_order) -> Iterator[str]:
    tenant_id, order_id = tenant_id_and_order

    async def thankyou(request: Request) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><title>Obrigado</title>{FBQ_STUB}<h1>Obrigado!</h1>"
            f"<script>{render_thankyou_snippet(tenant_id)}</script>"
        )

    async def gtm(request: Request) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><title>GTM tag</title>{FBQ_STUB}{_purchase_tag_html(tenant_id, order_id)}"
        )

    app = Starlette(routes=[Route("/obrigado", thankyou), Route("/gtm-tag", gtm)])
    with LoopbackServer(app) as server:
        yield server.url


@pytest.fixture
def tenant_id_and_order(pg_url: str, conn, make_tenant) -> tuple[str, str]:
    tenant_id, gateway_secrets = make_tenant()
    order_id = f"HP{pysecrets.randbelow(10**10):010d}"
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    body = json.dumps(build_payload("hotmart", order_id=order_id, email="buyer@example.com")).encode()
    headers, query, body = sign_request("hotmart", gateway_secrets["hotmart"], body)
    with TestClient(app, client=("203.0.113.9", 50000)) as client:
        response = client.post(
            f"/api/v1/webhooks/hotmart/{tenant_id}", content=body, headers=headers, params=query
        )
    assert response.status_code == 200, response.text
    run_batch(pg_url, mode="incremental")
    return tenant_id, order_id


def test_browser_and_server_compute_the_same_event_id(browser, pages: str, conn, tenant_id_and_order) -> None:
    tenant_id, order_id = tenant_id_and_order
    row = conn.execute(
        "SELECT event_id FROM core.purchases WHERE tenant_id = %s AND order_id = %s", (tenant_id, order_id)
    ).fetchone()
    assert row is not None, "the micro-batch did not fold the purchase"
    server_event_id = row[0]
    assert server_event_id == event_id(tenant_id, order_id)
    registry = conn.execute(
        "SELECT count(*) FROM core.dedupe_registry WHERE tenant_id = %s AND event_id = %s",
        (tenant_id, server_event_id),
    ).fetchone()[0]
    assert registry == 1

    page = browser.new_page()
    try:
        page.goto(f"{pages}/obrigado?transaction={order_id}")
        page.wait_for_function("window.trackaiPurchase !== undefined", timeout=10000)
        snippet = page.evaluate("window.trackaiPurchase")
        fbq_calls = page.evaluate("window.__fbq")
        layer = page.evaluate("window.dataLayer")

        page.goto(f"{pages}/gtm-tag")
        page.wait_for_function("window.trackaiPurchase !== undefined", timeout=10000)
        tag = page.evaluate("window.trackaiPurchase")
        tag_fbq = page.evaluate("window.__fbq")
    finally:
        page.close()
    print(
        f"\norder {order_id}: server {server_event_id}\n  thank-you snippet {snippet['event_id']}\n  GTM tag {tag['event_id']}"
    )
    assert snippet == {"event_id": server_event_id, "order_id": order_id}
    assert fbq_calls == [
        ["track", "Purchase", {"content_type": "product", "order_id": order_id}, {"eventID": server_event_id}]
    ]
    assert {
        "event": "trackai.purchase",
        "trackai_event_id": server_event_id,
        "transaction_id": order_id,
    } in layer
    assert tag["event_id"] == server_event_id
    assert tag_fbq == [["track", "Purchase", {"order_id": order_id}, {"eventID": server_event_id}]]


def test_a_thank_you_page_without_an_order_sends_nothing(browser, pages: str) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{pages}/obrigado")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        assert page.evaluate("window.trackaiPurchase === undefined && window.__fbq.length === 0")
    finally:
        page.close()
