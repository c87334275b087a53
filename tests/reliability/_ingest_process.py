"""Helpers for the ingest reliability tests: a real ``trackai serve`` process, a private Postgres
cluster that a test may stop and start, signed webhooks, and a sender that retries like a gateway.

Everything listens on 127.0.0.1 only. Every child runs in its own session (process group) so a
test can ``kill -9`` the whole service and teardown can never leave one behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx
import psycopg

from trackai import db
from trackai.core.gateways import get_gateway
from trackai.net import free_port
from trackai.settings import REPO_ROOT
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")
APP_ROLE = "trackai_app_rw"


def wait_until(
    predicate: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = ""
) -> float:
    """Poll ``predicate`` until true; returns the seconds waited, raises TimeoutError after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


# --- the ingest service as a real process ---------------------------------------------------------


class IngestProcess:
    """``python -m trackai_cli.cli serve`` on a fixed loopback port, connected as ``trackai_app_rw``.

    ``start()`` may be called again after ``kill()`` to restart on the same port.
    """

    def __init__(
        self,
        database_url: str,
        log_path: Path,
        *,
        port: int | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.workers = workers
        self.log_path = log_path
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = {
            **os.environ,
            "TRACKAI_DATABASE_URL": self.database_url,  # never the embedded default by accident
            "TRACKAI_INGEST_DATABASE_URL": db.with_user(self.database_url, APP_ROLE),
            "TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN": "100000000",  # still executed on every request
            "TRACKAI_CLICK_RATE_LIMIT_PER_MIN": "100000000",
            # Every request comes from 127.0.0.1: per-address budgets raised the same way (still executed).
            "TRACKAI_CLICK_RATE_LIMIT_PER_ADDRESS_PER_MIN": "100000000",
            "TRACKAI_CLICK_RATE_LIMIT_PER_SESSION_PER_MIN": "100000000",
            "TRACKAI_WEBHOOK_REFUSALS_PER_ADDRESS_PER_MIN": "100000000",
            "TRACKAI_WEBHOOK_REFUSALS_PER_ADDRESS_TENANT_PER_MIN": "100000000",
            "TRACKAI_METRICS_PORT": "0",
            "TRACKAI_LOG_LEVEL": "ERROR",
            **self.extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "trackai_cli.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start #{self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for GET /ready == 200; returns seconds waited."""
        started = time.monotonic()
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"ingest service exited ({self.proc.returncode}):\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/ready").status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"ingest service not ready after {timeout}s:\n{self.log_tail()}")
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` the whole process group (uvicorn and any worker) and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL for anything left in the group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --- a private Postgres cluster (for tests that stop the database) ---------------------------------


def _pg_bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class PrivatePostgres:
    """A throwaway cluster from pgserver's binaries on 127.0.0.1:<free port>, trust auth, no socket.

    Never the machine's server nor the repo's embedded one: this one exists only for the test and
    may be stopped and started at will. As root the cluster runs as the unprivileged ``pgserver``
    user (created by pgserver itself when missing), like the embedded database does.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="trackai-reliability-pg-"))
        self.pgdata = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(_pg_bin() / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            stdin=subprocess.DEVNULL,
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            import pwd

            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(_pg_bin())
            ensure_folder_permissions(_pg_bin(), 0o055)
            ensure_folder_permissions(_pg_bin().parent / "lib", 0o044)
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# trackai reliability test cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 60\n"
                "shared_buffers = 32MB\n"
            )

    def start(self, timeout: float = 60) -> float:
        started = time.monotonic()
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", str(int(timeout)), "start"
        )
        wait_until(self.accepts_connections, timeout, 0.05, "private postgres to accept connections")
        return time.monotonic() - started

    def stop(self, mode: str = "fast", timeout: float = 60) -> float:
        started = time.monotonic()
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "-t", str(int(timeout)), "stop")
        return time.monotonic() - started

    def accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def destroy(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.stop("immediate", timeout=20)
        if pid_file.exists():  # pg_ctl could not stop it: kill the postmaster we started (by its pid)
            with contextlib.suppress(ValueError, IndexError, OSError):
                os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# --- signed webhooks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """One distinct delivery: the exact bytes a gateway would post, and how to find its row."""

    gateway: str
    tenant_id: str
    secret: str
    order_id: str
    delivery_key: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, str]

    @property
    def path(self) -> str:
        return f"/api/v1/webhooks/{self.gateway}/{self.tenant_id}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.gateway, self.delivery_key)

    def signed(self) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and query for one attempt. Stripe signs every attempt anew (fresh ``t=``), as Stripe
        does; the body bytes never change."""
        if self.gateway == "stripe":
            headers, params, _ = sign_request("stripe", self.secret, self.body)
            return headers, params
        return self.headers, self.params


def make_webhooks(
    tenants: Sequence[tuple[str, dict[str, str]]], n: int, prefix: str, gateways: Sequence[str] = GATEWAYS
) -> list[Webhook]:
    """``n`` distinct approved purchases, round-robin over tenants and gateways."""
    hooks: list[Webhook] = []
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        tenant_id, secrets = tenants[i % len(tenants)]
        gateway = gateways[(i // len(tenants)) % len(gateways)]
        order_id = f"{prefix}-{run}-{i:06d}"
        payload = build_payload(
            gateway,
            order_id=order_id,
            email=f"buyer{i}@example.com",
            phone="11987654321",
            session_id=f"tai_rel{run}{i:08d}",
            amount=Decimal("97.00") + i % 50,
        )
        headers, params, body = sign_request(gateway, secrets[gateway], json.dumps(payload).encode())
        adapter = get_gateway(gateway)
        key = adapter.delivery_key(adapter.parse(body))
        hooks.append(Webhook(gateway, tenant_id, secrets[gateway], order_id, key, body, headers, params))
    return hooks


# --- a sender that retries like a gateway -----------------------------------------------------------

RETRY_STATUSES = frozenset({408, 429})


@dataclass
class SendStats:
    """What the sending side saw. ``acked`` holds every webhook that ever got a 2xx."""

    webhooks: int = 0
    attempts: int = 0
    retries: int = 0
    acknowledged: int = 0
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # accepted / duplicate / quarantined
    transport_errors: Counter = field(default_factory=Counter)
    retry_after_seen: Counter = field(default_factory=Counter)  # status -> responses carrying Retry-After
    missing_retry_after: int = 0  # 503/429 without Retry-After
    acked: dict[tuple[str, str, str], int] = field(default_factory=dict)  # key -> final status
    refused: dict[tuple[str, str, str], int] = field(default_factory=dict)  # key -> final 4xx
    unfinished: int = 0
    in_flight: int = 0
    first_ack_after: dict[str, float] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(v for k, v in self.statuses.items() if k >= 500)

    def figures(self) -> dict:
        return {
            "webhooks": self.webhooks,
            "requests_sent": self.attempts,
            "retries": self.retries,
            "acknowledged_2xx": self.acknowledged,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "outcomes": dict(self.outcomes),
            "transport_errors": dict(self.transport_errors),
            "5xx_responses": self.server_errors,
            "refused_4xx": len(self.refused),
            "unfinished": self.unfinished,
        }


class GatewaySender:
    """Posts each webhook until it gets a 2xx or a final 4xx, like a gateway's retry queue.

    Connection errors, timeouts, 5xx, 408 and 429 are retried with the same body after a short
    exponential backoff with jitter (capped at ``max_backoff``; Retry-After is recorded, and honoured
    only up to that cap so a test stays short).
    """

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 20,
        timeout: float = 10.0,
        first_backoff: float = 0.05,
        max_backoff: float = 1.0,
        deadline: float = 180.0,
        stats: SendStats | None = None,
    ) -> None:
        self.base_url = base_url
        self.concurrency = concurrency
        self.timeout = timeout
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.deadline = deadline
        self.stats = stats or SendStats()
        self._rng = random.Random(1234)

    async def send_all(self, webhooks: Iterable[Webhook]) -> SendStats:
        queue: asyncio.Queue[Webhook] = asyncio.Queue()
        for hook in webhooks:
            queue.put_nowait(hook)
            self.stats.webhooks += 1
        stop_at = time.monotonic() + self.deadline
        # aiohttp rather than httpx here: at thousands of requests the client's own CPU cost matters
        # on a 2-core machine (httpx's async stack costs several times more per request).
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(self.base_url, connector=connector, timeout=timeout) as session:
            workers = [
                asyncio.create_task(self._worker(session, queue, stop_at)) for _ in range(self.concurrency)
            ]
            await asyncio.gather(*workers)
        self.stats.unfinished += queue.qsize()
        return self.stats

    async def _worker(
        self, session: aiohttp.ClientSession, queue: asyncio.Queue[Webhook], stop_at: float
    ) -> None:
        while time.monotonic() < stop_at:
            try:
                hook = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            self.stats.in_flight += 1
            try:
                await self.deliver(session, hook, stop_at)
            finally:
                self.stats.in_flight -= 1

    async def deliver(self, session: aiohttp.ClientSession, hook: Webhook, stop_at: float) -> int | None:
        stats = self.stats
        backoff = self.first_backoff
        first = True
        while True:
            if time.monotonic() > stop_at:
                stats.unfinished += 1
                return None
            if not first:
                stats.retries += 1
            first = False
            headers, params = hook.signed()
            stats.attempts += 1
            try:
                async with session.post(
                    hook.path, data=hook.body, headers=headers, params=params
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                    payload = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                stats.transport_errors[type(exc).__name__] += 1
            else:
                stats.statuses[status] += 1
                if status in (429, 503):
                    if retry_after:
                        stats.retry_after_seen[status] += 1
                    else:
                        stats.missing_retry_after += 1
                if 200 <= status < 300:
                    with contextlib.suppress(ValueError, AttributeError):
                        stats.outcomes[json.loads(payload).get("status", "?")] += 1
                    if hook.key not in stats.acked:
                        stats.acknowledged += 1
                    stats.acked[hook.key] = status
                    return status
                if 400 <= status < 500 and status not in RETRY_STATUSES:
                    stats.refused[hook.key] = status
                    return status
            await asyncio.sleep(backoff * (0.5 + self._rng.random()))
            backoff = min(backoff * 2, self.max_backoff)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.01) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


def landed_counts(conn: psycopg.Connection, tenant_ids: Sequence[str]) -> dict[tuple[str, str, str], int]:
    """(tenant, gateway, delivery_key) -> number of landing.webhook_events rows."""
    rows = conn.execute(
        """
        SELECT tenant_id::text, gateway, delivery_key, count(*)
          FROM landing.webhook_events WHERE tenant_id = ANY(%s::uuid[])
         GROUP BY 1, 2, 3
        """,
        (list(tenant_ids),),
    ).fetchall()
    return {(r[0], r[1], r[2]): r[3] for r in rows}


def duplicate_conversions(conn: psycopg.Connection, tenant_ids: Sequence[str]) -> int:
    """Orders with more than one conversion row for the same status (a double landing)."""
    return conn.execute(
        """
        SELECT count(*) FROM (
            SELECT 1 FROM landing.conversions WHERE tenant_id = ANY(%s::uuid[])
             GROUP BY tenant_id, gateway, order_id, status HAVING count(*) > 1
        ) d
        """,
        (list(tenant_ids),),
    ).fetchone()[0]


def conversion_count(conn: psycopg.Connection, tenant_ids: Sequence[str]) -> int:
    return conn.execute(
        "SELECT count(*) FROM landing.conversions WHERE tenant_id = ANY(%s::uuid[])", (list(tenant_ids),)
    ).fetchone()[0]
