"""The hot webhook and click POSTs are served by one plain ASGI layer in front of FastAPI (issue 21,
ingest_service/core/hot_path.py). What the middleware stack did for them still happens: metrics by route
template, gateway label and status; CORS answers; a 500 (counted) for a bug; everything else (other
methods, other paths, preflights) still goes through FastAPI."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient

from ingest_service.core import hot_path
from ingest_service.main import create_app
from trackai import db
from trackai.core.session_id import new_session_id
from trackai.settings import Settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request


@pytest.fixture(scope="module")
def client(pg_url: str):
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("203.0.113.10", 50000), raise_server_exceptions=False) as c:
        yield c


def _metric(client: TestClient, route: str, gateway: str, status: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{client.app.state.ingest.metrics_port}/metrics").text
    labels = f'gateway="{re.escape(gateway)}",route="{re.escape(route)}",status="{status}"'
    pattern = r"^trackai_ingest_requests_total\{" + labels + r"\} ([0-9.e+]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_hot_requests_are_counted_by_template_gateway_and_status(client, make_tenant) -> None:
    tenant_id, secrets = make_tenant()
    webhook = hot_path.WEBHOOK_TEMPLATE
    before = {
        "accepted": _metric(client, webhook, "stripe", 200),
        "unknown": _metric(client, webhook, "invalid", 404),
        "click": _metric(client, hot_path.CLICK_TEMPLATE, "", 202),
    }
    body = json.dumps(build_payload("stripe", order_id="hot-1")).encode()
    headers, query, body = sign_request("stripe", secrets["stripe"], body)
    r = client.post(f"/api/v1/webhooks/stripe/{tenant_id}", content=body, headers=headers, params=query)
    assert r.status_code == 200 and r.json() == {"status": "accepted"}
    assert r.headers["content-type"] == "application/json" and r.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in r.headers  # no Origin, no CORS answer (as CORSMiddleware)
    assert client.post(f"/api/v1/webhooks/nope/{tenant_id}", content=b"{}").status_code == 404
    click = client.post(
        "/api/v1/track/click",
        json={"tenant_id": tenant_id, "session_id": new_session_id()},
        headers={"Origin": "https://lp.example"},
    )
    assert click.status_code == 202 and click.headers["access-control-allow-origin"] == "*"
    assert click.json()["status"] == "accepted" and click.json()["click_id"]
    assert _metric(client, webhook, "stripe", 200) == before["accepted"] + 1
    assert _metric(client, webhook, "invalid", 404) == before["unknown"] + 1
    assert _metric(client, hot_path.CLICK_TEMPLATE, "", 202) == before["click"] + 1


def test_other_methods_and_paths_still_go_through_fastapi(client, make_tenant) -> None:
    tenant_id, _ = make_tenant()
    assert client.get("/api/v1/track/click").status_code == 405
    assert client.get(f"/api/v1/webhooks/stripe/{tenant_id}").status_code == 405
    assert client.post(f"/api/v1/webhooks/stripe/{tenant_id}/extra", content=b"{}").status_code == 404
    assert client.post("/api/v1/webhooks/stripe/", content=b"{}").status_code == 404
    pre = client.options(
        "/api/v1/track/click",
        headers={"Origin": "https://lp.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
    assert _metric(client, "unmatched", "", 404) >= 1  # FastAPI's requests are still counted


def test_a_bug_in_a_hot_handler_answers_500_and_is_counted(client, monkeypatch) -> None:
    async def broken(request):
        raise RuntimeError("bug")

    monkeypatch.setattr(client.app.hot, "click", broken)
    before = _metric(client, hot_path.CLICK_TEMPLATE, "", 500)
    r = client.post("/api/v1/track/click", content=b"{}")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert _metric(client, hot_path.CLICK_TEMPLATE, "", 500) == before + 1
