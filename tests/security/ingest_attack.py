"""Loopback attacks on a real ``trackai serve`` (issue 22 findings 2, 4, 5, 6, 7), with bounded loops.

The primitives (raw sockets that dribble or flood, floods of clicks and forged webhooks, the process's
RSS and CPU) are shared by the tests in this folder. Run as a script it measures every finding once and
prints JSON, so the same command gives the "before" and "after" figures of docs/security.md:

    .venv/bin/python -m tests.security.ingest_attack --database-url postgresql://postgres@127.0.0.1:5432/postgres

It creates (and drops) its own database on that server, starts the service from the current directory
and talks to it over 127.0.0.1 only. Nothing here leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psycopg

from trackai.net import free_port

APP_ROLE = "trackai_app_rw"
GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")


# --- the process -----------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_service(database_url: str, port: int, log_path: Path, env: dict[str, str] | None = None):
    from trackai import db

    full_env = {
        **os.environ,
        "TRACKAI_ENV": "development",
        "TRACKAI_DATABASE_URL": database_url,
        "TRACKAI_INGEST_DATABASE_URL": db.with_user(database_url, APP_ROLE),
        "TRACKAI_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    log = log_path.open("ab")
    command = [sys.executable, "-m", "trackai_cli.cli", "serve", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(
        command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, base
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                return proc, base
        time.sleep(0.2)
    raise RuntimeError(f"service not ready: {log_path.read_text()[-2000:]}")


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


# --- raw sockets ---------------------------------------------------------------------------------


def open_seconds(port: int, first: bytes, dribble: bytes, interval: float, limit: float) -> float:
    """Send ``first``, then one ``dribble`` every ``interval`` s; seconds until the server closes the
    socket (``limit`` when it never does within the bound)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=interval) as sock:
        sock.sendall(first)
        while time.monotonic() - started < limit:
            try:
                data = sock.recv(65536)
                if not data or b"\r\n\r\n" in data:  # closed, or answered (and then closed)
                    with contextlib.suppress(OSError):
                        while sock.recv(65536):
                            pass
                    return round(time.monotonic() - started, 1)
            except TimeoutError:
                pass
            except OSError:
                return round(time.monotonic() - started, 1)
            try:
                sock.sendall(dribble)
            except OSError:
                return round(time.monotonic() - started, 1)
    return limit


def slow_header_seconds(port: int, interval: float = 2.0, limit: float = 95.0) -> float:
    return open_seconds(
        port, b"POST /api/v1/track/click HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n", interval, limit
    )


def slow_body_seconds(port: int, path: str, interval: float = 2.0, limit: float = 95.0) -> float:
    """A body declared at 10,000 bytes (under every cap), sent one byte per ``interval``."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n"
    )
    return open_seconds(port, head.encode() + b"{", b" ", interval, limit)


def send_header_of(port: int, size: int, path: str = "/health", finish: bool = True) -> str:
    """One request with a ``size``-byte header value; the status line, or what happened instead."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: ".encode())
            chunk = b"a" * 65536
            sent = 0
            while sent < size:
                sock.sendall(chunk[: min(len(chunk), size - sent)])
                sent += min(len(chunk), size - sent)
            if finish:
                sock.sendall(b"\r\nConnection: close\r\n\r\n")
            answer = sock.recv(200)
        except OSError as exc:
            return f"connection closed after sending ({type(exc).__name__})"
    return answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "connection closed"


def hold_unfinished_headers(port: int, count: int, size: int) -> list[socket.socket]:
    """``count`` sockets that each sent ``size`` bytes of one header and never finish it."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        held.append(sock)
    return held


def half_sent_body(port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
    """Declare the whole body, send half of it, then hang up (Starlette's ClientDisconnect)."""
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[: len(body) // 2])
        time.sleep(0.2)


# --- HTTP floods -----------------------------------------------------------------------------------


def _noise(n: int) -> str:
    """Incompressible text (Postgres would compress a repeated character to almost nothing)."""
    return secrets.token_urlsafe(n)[:n]


def max_size_click(tenant_id: str, session_id: str, referrer_len: int = 8160) -> dict:
    """The largest click the endpoint took before issue 22 (each row was about 27 KiB); with
    ``referrer_len=2100`` it still fits under today's 16 KiB body limit (~14 KiB)."""
    keys = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "src", "sck", "xcod")
    url = "https://lp.example.com/?" + "&".join(f"{k}={_noise(500)}" for k in keys) + "&pad="
    return {
        "tenant_id": tenant_id,
        "session_id": session_id,
        "url": url + _noise(8192 - len(url)),
        "referrer": "https://r.example.com/?" + _noise(referrer_len),
        "fbc": "fb.1.1731000000000." + _noise(480).replace("-", "a"),
        "fbp": "fb.1.1731000000000.1234567890",
        "external_id": _noise(200),
        "email": "e" * 300 + "@example.com",
    }


async def _post_all(base: str, requests_: list[tuple[str, dict]], concurrency: int = 8) -> Counter:
    statuses: Counter = Counter()
    queue = list(reversed(requests_))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def worker() -> None:
            while queue:
                path, kw = queue.pop()
                try:
                    statuses[(await client.post(path, **kw)).status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def post_all(base: str, requests_: list[tuple[str, dict]], concurrency: int = 8) -> Counter:
    return asyncio.run(_post_all(base, requests_, concurrency))


def click_flood(
    base: str, tenant_id: str, n: int, address: str, session_ids: list[str], referrer_len: int = 8160
) -> Counter:
    """``n`` maximum-size clicks from one address, rotating through ``session_ids``."""
    headers = {"X-Forwarded-For": address, "User-Agent": "flood/" + _noise(990)}
    sends = []
    for i in range(n):
        body = max_size_click(tenant_id, session_ids[i % len(session_ids)], referrer_len)
        sends.append(("/api/v1/track/click", {"json": body, "headers": headers}))
    return post_all(base, sends)


def visitor_clicks(base: str, tenant_id: str, n: int, session_ids: list[str]) -> Counter:
    """``n`` ordinary visitors, each from its own address."""
    return post_all(
        base,
        [
            (
                "/api/v1/track/click",
                {
                    "json": {
                        "tenant_id": tenant_id,
                        "session_id": session_ids[i],
                        "url": "https://lp.example.com/",
                    },
                    "headers": {"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"},
                },
            )
            for i in range(n)
        ],
    )


def forged_webhooks(base: str, tenant_id: str, n: int, address: str = "203.0.113.66") -> Counter:
    """Forged deliveries from one address: wrong secrets for the real tenant, random tenants, made-up
    gateway names (a third each)."""
    from trackai_cli.gateway_samples import build_payload
    from trackai_cli.gateway_signing import sign_request

    sends = []
    for i in range(n):
        gateway = GATEWAYS[i % 4]
        body = json.dumps(build_payload(gateway, order_id=f"forged-{i}")).encode()
        headers, query, body = sign_request(gateway, "not-the-secret", body)
        headers = {**headers, "X-Forwarded-For": address}
        target = (tenant_id, str(uuid.uuid4()), tenant_id)[i % 3]
        path_gateway = gateway if i % 3 != 2 else f"gw{secrets.token_hex(3)}"
        sends.append(
            (
                f"/api/v1/webhooks/{path_gateway}/{target}",
                {"content": body, "headers": headers, "params": query},
            )
        )
    return post_all(base, sends)


def fresh_window(min_left: float = 25.0) -> None:
    """Wait for the next one-minute window when fewer than ``min_left`` seconds remain in this one, so
    that a burst is judged against one window of the per-minute budgets."""
    if 60 - time.time() % 60 < min_left:
        time.sleep(60 - time.time() % 60 + 0.2)


def metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# --- the measurement -------------------------------------------------------------------------------


def measure(server_url: str, workdir: Path, env: dict[str, str]) -> dict:
    from trackai import db, migrations, tenants
    from trackai.settings import REPO_ROOT

    name = f"trackai_attack_{secrets.token_hex(3)}"
    db.ensure_database(server_url, name)
    url = db.with_database(server_url, name)
    migrations.upgrade(url, REPO_ROOT / "sql")
    with psycopg.connect(url, autocommit=True) as conn:
        tenant_id, gw_secrets = tenants.create_tenant_with_every_gateway(conn, "attack target")
    port = free_port()
    log_path = workdir / f"{name}.log"
    proc, base = start_service(url, port, log_path, env)
    figures: dict = {"database": name}
    try:
        figures.update(_measure_running(proc, base, port, url, tenant_id, gw_secrets, log_path, env))
    finally:
        stop_service(proc)
        figures["log_lines_total"] = len(log_path.read_text(errors="replace").splitlines())
        db.drop_database(server_url, name)
    return figures


def _sid(i: int) -> str:
    return "tai_" + f"{i:022d}"


def _measure_running(proc, base, port, url, tenant_id, gw_secrets, log_path: Path, env: dict) -> dict:
    out: dict = {}
    pid = proc.pid
    metrics_url = env.get("ATTACK_METRICS_URL") or base + "/metrics"

    # Finding 6 first (a fresh worker): header size, unfinished headers, huge Stripe-Signature, slow clients.
    out["rss_start_mb"] = round(rss_mb(pid), 1)
    out["header_32mib"] = send_header_of(port, 32 * 1024 * 1024)
    time.sleep(1)
    held = hold_unfinished_headers(port, 4, 32 * 1024 * 1024)
    time.sleep(2)
    out["rss_with_4_unfinished_32mib_headers_mb"] = round(rss_mb(pid), 1)
    for sock in held:
        sock.close()
    body = json.dumps({"id": "evt_x", "type": "x"}).encode()
    huge = "t=1," + ",".join(["v1=" + "0" * 64] * 480_000)  # ~32 MiB
    with httpx.Client(base_url=base, timeout=60) as client:
        result: dict = {}

        def send_huge() -> None:
            started = time.monotonic()
            try:
                r = client.post(
                    f"/api/v1/webhooks/stripe/{tenant_id}", content=body, headers={"Stripe-Signature": huge}
                )
                result["status"] = r.status_code
            except httpx.HTTPError as exc:
                result["status"] = type(exc).__name__
            result["seconds"] = round(time.monotonic() - started, 2)

        import threading

        thread = threading.Thread(target=send_huge)
        thread.start()
        worst = 0.0
        with httpx.Client(base_url=base, timeout=30) as probe:
            while thread.is_alive():
                started = time.monotonic()
                probe.get("/health")
                worst = max(worst, time.monotonic() - started)
                time.sleep(0.02)
        thread.join()
        out["stripe_signature_32mib"] = result
        out["health_worst_latency_during_it_s"] = round(worst, 2)
        # An unauthenticated 1 MiB Perfect Pay body (the token is inside the JSON): server CPU per request.
        pp = b'{"pad":[' + b",".join(b"12345" for _ in range(174_000)) + b'],"token":"wrong"}'
        before = cpu_seconds(pid)
        codes = Counter(  # to a made-up tenant: what anyone can send
            client.post(f"/api/v1/webhooks/perfectpay/{uuid.uuid4()}", content=pp).status_code
            for _ in range(20)
        )
        out["perfectpay_1mib_unauth"] = {
            "statuses": dict(codes),
            "server_cpu_ms_per_request": round((cpu_seconds(pid) - before) / 20 * 1000, 1),
        }
    out["slow_header_open_s"] = slow_header_seconds(port)
    out["slow_body_open_s"] = slow_body_seconds(port, f"/api/v1/webhooks/hotmart/{tenant_id}")

    # Finding 5: half-sent bodies, then 2,000 forged webhooks from one address.
    lines_before = len(log_path.read_text(errors="replace").splitlines())
    for _ in range(5):
        half_sent_body(
            port,
            f"/api/v1/webhooks/hotmart/{tenant_id}",
            b"{" + b" " * 20000 + b"}",
            {"X-HOTMART-HOTTOK": "x"},
        )
    time.sleep(1)
    log_text = log_path.read_text(errors="replace")
    new = log_text.splitlines()[lines_before:]
    out["half_sent_bodies"] = {
        "log_lines": len(new),
        "tracebacks": sum("Traceback" in line or "ClientDisconnect" in line for line in new),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        landed = Counter()
        from trackai_cli.gateway_samples import build_payload
        from trackai_cli.gateway_signing import sign_request

        with httpx.Client(base_url=base, timeout=10) as client:
            for i in range(100):  # the tenant's real traffic in the alarm window
                g = GATEWAYS[i % 4]
                h, q, b = sign_request(
                    g, gw_secrets[g], json.dumps(build_payload(g, order_id=f"real-{i}")).encode()
                )
                landed[
                    client.post(
                        f"/api/v1/webhooks/{g}/{tenant_id}", content=b, headers=h, params=q
                    ).status_code
                ] += 1
        lines_before = len(log_path.read_text(errors="replace").splitlines())
        started = time.monotonic()
        statuses = forged_webhooks(base, tenant_id, 2000)
        elapsed = time.monotonic() - started
        time.sleep(float(env.get("ATTACK_FLUSH_WAIT", "0")))
        new = log_path.read_text(errors="replace").splitlines()[lines_before:]
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'webhook_rejections'"
            )
        }
        counted = "sum(hits)" if "hits" in cols else "count(*)"
        rows, refusals = conn.execute(
            f"SELECT count(*), coalesce({counted}, 0) FROM landing.webhook_rejections"
        ).fetchone()
        from dagster_project.defs.quality.alarms import ALARMS, run_alarm
        from dagster_project.defs.quality.config import AlarmThresholds

        spec = next(s for s in ALARMS if s.name == "webhook_success_rate")
        alarm = run_alarm(conn, spec, AlarmThresholds())
        out["forged_2000"] = {
            "real_deliveries": dict(landed),
            "statuses": {str(k): v for k, v in statuses.items()},
            "seconds": round(elapsed, 1),
            "rejection_rows": rows,
            "refusals_counted": int(refusals),
            "log_lines": len(new),
            "alarm_passed": alarm.passed,
            "alarm_value": alarm.value,
            "alarm_details": alarm.details,
        }

    # Finding 4: 300 made-up gateway names, then what /metrics shows and to whom.
    with httpx.Client(timeout=10) as client:
        before_series = len(metric_lines(client.get(metrics_url).text))
        for _ in range(300):
            client.post(
                f"{base}/api/v1/webhooks/{secrets.token_hex(6)}/{tenant_id}",
                content=b"{}",
                headers={"X-Forwarded-For": f"192.0.2.{_ % 250 + 1}"},
            )
        text = client.get(metrics_url).text
        public = client.get(base + "/metrics")
        out["metrics"] = {
            "series_before": before_series,
            "series_after_300_gateway_names": len(metric_lines(text)),
            "tenant_id_in_metrics": tenant_id in text,
            "public_port_status": public.status_code,
        }

    # Finding 2: one address floods max-size clicks; then 50 ordinary visitors of the same tenant.
    flood_n = int(env.get("ATTACK_CLICK_FLOOD", "6000"))
    started = time.monotonic()
    time.sleep(60 - time.time() % 60)  # start at a minute boundary: the whole flood in one window
    flood = click_flood(base, tenant_id, flood_n, "203.0.113.77", [_sid(i) for i in range(200)])
    flood_s = time.monotonic() - started
    fitting = None
    if flood.get(413):  # refused by the body limit: flood again with the largest click that fits
        fitting = click_flood(base, tenant_id, flood_n, "203.0.113.77", [_sid(i) for i in range(200)], 2100)
    visitors = visitor_clicks(base, tenant_id, 50, [_sid(1000 + i) for i in range(50)])
    with psycopg.connect(url, autocommit=True) as conn:
        biggest = conn.execute("SELECT max(pg_column_size(c.*)) FROM landing.clicks c").fetchone()[0]
    out["click_flood"] = {
        "flood_clicks": flood_n,
        "flood_statuses": {str(k): v for k, v in flood.items()},
        "flood_seconds": round(flood_s, 1),
        "fitting_flood_statuses": {str(k): v for k, v in (fitting or {}).items()},
        "other_visitors_statuses": {str(k): v for k, v in visitors.items()},
        "largest_row_bytes": biggest,
    }
    out["rss_end_mb"] = round(rss_mb(pid), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a server the script may create a database on")
    parser.add_argument("--workdir", default="/tmp", help="where the service log goes")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service (repeatable)")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    print(json.dumps(measure(args.database_url, Path(args.workdir), env), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
