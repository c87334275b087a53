"""Latency of one webhook against a running ``trackai serve`` (sequential requests, p50/p99).

    .venv/bin/python -m trackai_cli.ingest_latency --requests 2000 [--gateway stripe] [--url http://127.0.0.1:PORT]

Without ``--url`` it starts ``trackai serve`` on a free loopback port (rate limit raised for the run,
still executed on every request), creates a bench tenant in the configured database, and stops the
server afterwards. Every request is a new, signed, approved purchase that lands two rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import httpx

from trackai.net import free_port


def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {base} not ready after {timeout}s")


def start_server(port: int, workers: int = 1, env: dict | None = None) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "trackai_cli.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    # A local measurement: development unless the caller says otherwise (a configured database needs it
    # explicit, trackai.settings.require_explicit_env).
    base_env = {**os.environ, "TRACKAI_ENV": os.environ.get("TRACKAI_ENV", "development")}
    return subprocess.Popen(
        command, env={**base_env, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def create_bench_tenant() -> tuple[str, dict[str, str]]:
    from trackai import db, tenants

    gateway_secrets = {g: f"bench-{g}-{uuid.uuid4().hex[:8]}" for g in tenants.GATEWAYS}
    gateway_secrets["stripe"] = "whsec_" + uuid.uuid4().hex
    with db.connect(db.database_url()) as conn:
        tenant_id = tenants.create_tenant(
            conn,
            name=f"bench {uuid.uuid4().hex[:6]}",
            pixel_id="1234567890",
            meta_token="bench-token",  # noqa: S106 - throwaway bench tenant
            gateway_secrets=gateway_secrets,
        )
    return tenant_id, gateway_secrets


def run(base: str, tenant_id: str, secrets: dict[str, str], gateway: str, n: int, warmup: int = 50) -> dict:
    from trackai.core.session_id import new_session_id
    from trackai_cli.gateway_samples import build_payload
    from trackai_cli.gateway_signing import sign_request

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        for i in range(n + warmup):
            payload = build_payload(
                gateway,
                order_id=f"bench-{uuid.uuid4().hex[:12]}",
                email=f"b{i}@example.com",
                phone="11987654321",
                session_id=new_session_id(),
                amount=Decimal("97.00"),
            )
            headers, query, body = sign_request(gateway, secrets[gateway], json.dumps(payload).encode())
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers, params=query
            )
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "gateway": gateway,
        "requests": n,
        "statuses": statuses,
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(latencies[-1], 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--gateway", default="stripe", choices=("perfectpay", "hotmart", "kiwify", "stripe"))
    parser.add_argument("--url", default=None, help="an already running server (needs --tenant and secrets)")
    args = parser.parse_args(argv)
    tenant_id, secrets = create_bench_tenant()
    server = None
    base = args.url
    if base is None:
        port = free_port()
        server = start_server(port, env={"TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN": "100000000"})
        base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        print(json.dumps(run(base, tenant_id, secrets, args.gateway, args.requests)))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
