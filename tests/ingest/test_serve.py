"""``trackai serve`` as a real process: webhooks of every gateway and a click over loopback HTTP."""

from __future__ import annotations

import json

import httpx
import psycopg

from trackai import db
from trackai.core.session_id import new_session_id
from trackai.net import free_port
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request
from trackai_cli.ingest_latency import create_bench_tenant, run, start_server, wait_ready


def test_trackai_serve_end_to_end(pg_url: str) -> None:
    tenant_id, secrets = create_bench_tenant()
    port = free_port()
    server = start_server(
        port, workers=2, env={"TRACKAI_INGEST_DATABASE_URL": db.with_user(pg_url, "trackai_app_rw")}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, timeout=60)
        for gateway in ("perfectpay", "hotmart", "kiwify", "stripe"):
            result = run(base, tenant_id, secrets, gateway, n=10, warmup=0)
            assert result["statuses"] == {200: 10}, result
        payload = build_payload("hotmart", order_id="HP-serve")
        headers, _query, body = sign_request("hotmart", secrets["hotmart"], json.dumps(payload).encode())
        codes = [
            httpx.post(
                f"{base}/api/v1/webhooks/hotmart/{tenant_id}", content=body, headers=headers
            ).status_code
            for _ in range(2)
        ]
        assert codes == [200, 200]
        assert httpx.post(f"{base}/api/v1/webhooks/hotmart/{tenant_id}", content=body).status_code == 401
        click = httpx.post(
            f"{base}/api/v1/track/click", json={"tenant_id": tenant_id, "session_id": new_session_id()}
        )
        assert click.status_code == 202
        with psycopg.connect(pg_url) as conn:
            assert (
                conn.execute(
                    "SELECT count(*) FROM landing.conversions WHERE tenant_id = %s", (tenant_id,)
                ).fetchone()[0]
                == 41
            )
    finally:
        server.terminate()
        server.wait(timeout=15)
