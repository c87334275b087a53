"""Issue 22, finding 6, against a real ``trackai serve`` over loopback (raw sockets where HTTP clients
would refuse to misbehave).

Before: slow-header and slow-body sockets stayed open past 90 s; a 32 MiB header was accepted; four
unfinished 32 MiB headers grew the worker by ~190 MB; a huge Stripe-Signature was parsed and compared
entry by entry; an unauthenticated 1 MiB Perfect Pay body was read and JSON-parsed. Deadlines here are
short (3 s) so the test is quick; the defaults are 10 s. Bounds leave room for a loaded machine.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.security.ingest_attack import (
    free_port,
    hold_unfinished_headers,
    open_seconds,
    rss_mb,
    send_header_of,
    slow_body_seconds,
    slow_header_seconds,
    start_service,
    stop_service,
)
from trackai import tenants
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration
ENV = {
    "TRACKAI_HEADER_TIMEOUT_SECONDS": "3",
    "TRACKAI_BODY_TIMEOUT_SECONDS": "3",
    "TRACKAI_METRICS_PORT": "0",
    # Every probe comes from 127.0.0.1 and most are refusals: the refusal budget is not what is tested.
    "TRACKAI_WEBHOOK_REFUSALS_PER_ADDRESS_PER_MIN": "100000",
    "TRACKAI_WEBHOOK_REFUSALS_PER_ADDRESS_TENANT_PER_MIN": "100000",
}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def service(pg_url: str, tmp_path_factory):
    port = free_port()
    proc, base = start_service(pg_url, port, tmp_path_factory.mktemp("slow") / "ingest.log", ENV)
    assert proc.poll() is None, "service did not start"
    yield proc, base, port
    stop_service(proc)


@pytest.fixture(scope="module")
def seller(service, pg_url: str):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        return tenants.create_tenant_with_every_gateway(conn, "slow target")


def test_slow_header_and_slow_body_are_cut_off(service, seller) -> None:
    _, base, port = service
    tenant_id, _ = seller
    assert slow_header_seconds(port, interval=0.5, limit=30) <= 6  # was open past 90 s
    assert slow_body_seconds(port, f"/api/v1/webhooks/hotmart/{tenant_id}", interval=0.5, limit=30) <= 6
    assert slow_body_seconds(port, "/api/v1/track/click", interval=0.5, limit=30) <= 6
    # A route that never reads its body (GET /health with a dribbled body): the protocol's backstop.
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    assert open_seconds(port, head, b" ", 0.5, 30) <= 12
    # An idle connection that never sends a byte.
    assert open_seconds(port, b"", b"", 0.5, 30) <= 6
    assert httpx.get(base + "/health").status_code == 200


def test_oversized_headers_are_refused_without_growing_the_worker(service) -> None:
    proc, base, port = service
    answer = send_header_of(port, 32 * MIB)
    assert answer.startswith("HTTP/1.1 431") or answer.startswith("connection closed"), answer
    assert send_header_of(port, 8 * 1024).startswith("HTTP/1.1 200")  # ordinary headers still fine
    start = rss_mb(proc.pid)
    held = hold_unfinished_headers(port, 4, 32 * MIB)
    time.sleep(1)
    grown = rss_mb(proc.pid) - start
    for sock in held:
        sock.close()
    assert grown < 16, grown  # was +190 MB
    assert httpx.get(base + "/health").status_code == 200


def test_huge_stripe_signature_does_not_stall_the_worker(service, seller) -> None:
    _, base, _port = service
    tenant_id, secrets = seller
    body = json.dumps(build_payload("stripe", order_id="pi_sig")).encode()
    huge = "t=1," + ",".join(["v1=" + "0" * 64] * 480_000)  # 32 MiB
    result: dict = {}

    def send() -> None:
        try:
            r = httpx.post(
                f"{base}/api/v1/webhooks/stripe/{tenant_id}",
                content=body,
                headers={"Stripe-Signature": huge},
                timeout=30,
            )
            result["status"] = r.status_code
        except httpx.HTTPError as exc:
            result["status"] = type(exc).__name__

    thread = threading.Thread(target=send)
    thread.start()
    health = []
    while thread.is_alive():
        health.append(httpx.get(base + "/health", timeout=10).status_code)
        time.sleep(0.02)
    thread.join()
    assert result["status"] in (431, "RemoteProtocolError", "WriteError", "ReadError"), result
    assert set(health) <= {200}
    # Under the head limit but longer than any real Stripe header, or too many v1 entries: 401 at once.
    for header in ("t=1," + ",".join(["v1=" + "0" * 64] * 20), "t=1," + "v1=" + "0" * 2000):
        r = httpx.post(
            f"{base}/api/v1/webhooks/stripe/{tenant_id}", content=body, headers={"Stripe-Signature": header}
        )
        assert r.status_code == 401
    headers, query, signed = sign_request("stripe", secrets["stripe"], body)
    ok = httpx.post(
        f"{base}/api/v1/webhooks/stripe/{tenant_id}", content=signed, headers=headers, params=query
    )
    assert ok.status_code == 200, ok.text


def test_body_caps_per_gateway_and_cheap_checks_first(service, seller) -> None:
    _, base, port = service
    tenant_id, secrets = seller
    with httpx.Client(base_url=base, timeout=10) as client:
        # An unauthenticated 1 MiB Perfect Pay body: refused from its declared length, never parsed.
        pp = b'{"pad":[' + b",".join(b"12345" for _ in range(174_000)) + b'],"token":"wrong"}'
        assert client.post(f"/api/v1/webhooks/perfectpay/{tenant_id}", content=pp).status_code == 413
        # 40 KiB: over Perfect Pay's cap (32 KiB) ...
        padded = build_payload("perfectpay", order_id="PP-big")
        padded["pad"] = "x" * 40_000
        padded["token"] = secrets["perfectpay"]
        assert (
            client.post(f"/api/v1/webhooks/perfectpay/{tenant_id}", content=json.dumps(padded)).status_code
            == 413
        )
        # ... but a Stripe event of 100 KiB (metadata-heavy) is a real size and is accepted.
        stripe_payload = build_payload("stripe", order_id="pi_big")
        stripe_payload["data"]["object"]["metadata"].update({f"k{i}": "v" * 490 for i in range(200)})
        headers, query, body = sign_request("stripe", secrets["stripe"], json.dumps(stripe_payload).encode())
        assert len(body) > 90_000
        r = client.post(f"/api/v1/webhooks/stripe/{tenant_id}", content=body, headers=headers, params=query)
        assert r.status_code == 200, r.text
        assert client.post(f"/api/v1/webhooks/kiwify/{tenant_id}", content=b"{}").status_code == 401
        no_token = json.dumps({"pad": "x" * 20_000}).encode()  # no token in the bytes: not even parsed
        assert client.post(f"/api/v1/webhooks/perfectpay/{tenant_id}", content=no_token).status_code == 401
    # No credential at all: answered before the body is read, so before the body deadline (3 s).
    head = f"POST /api/v1/webhooks/stripe/{tenant_id} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    assert open_seconds(port, head.encode(), b" ", 0.2, 30) < 2.5
