"""Shared helpers for the reliability tests R2, R3 and R5: real child processes, loopback only.

* :class:`Child` (tests/support/processes.py) starts a command in its own session with stdout/stderr in
  log files and always kills the whole process group on exit.
* :func:`run_dispatch_process` runs ONE production dispatch run (``trackai.dispatch.run_dispatch`` with
  ``DispatchOptions.from_settings``, what the Dagster asset calls) in a fresh Python process. Running this
  module (``python -m tests.reliability._dispatch_env '<json options>'``) is that child: it prints the
  run's summary as JSON on stdout; the ``trackai.*`` JSON logs go to stderr.
* :class:`CapiMockProcess` is ``trackai capi-mock`` as a child process, driven over its control endpoints.
* :class:`HoldingFake` is the same fake in a thread, wrapped so that one chosen *accepted* request is
  recorded by the fake and then its 200 is held back: the client is stuck between "Meta accepted" and
  "we recorded it" for as long as the test wants (R3 kills it there).

The Graph URL given to a child is always checked to be loopback: nothing ever goes to graph.facebook.com.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from tests.support.processes import Child
from trackai.settings import REPO_ROOT
from trackai_cli.capi_mock.server import MockServer

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def assert_loopback(url: str) -> str:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise AssertionError(f"refusing a non-loopback URL in a reliability test: {url}")
    return url


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def child_env(graph_url: str | None = None, **extra: str) -> dict[str, str]:
    """The test process's environment for a child, with the repo importable and the fake as Graph API."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    env["TRACKAI_META_GRAPH_URL"] = assert_loopback(graph_url or "http://127.0.0.1:9")
    env.update(extra)
    return env


# --- dispatch as a child process ------------------------------------------------------------------


def dispatch_args(options: dict[str, Any] | None = None) -> list[str]:
    return [sys.executable, "-m", "tests.reliability._dispatch_env", json.dumps(options or {})]


def start_dispatch(
    env: dict[str, str], log_dir: Path, name: str, options: dict[str, Any] | None = None
) -> Child:
    assert_loopback(env["TRACKAI_META_GRAPH_URL"])
    return Child(name, dispatch_args(options), env, log_dir)


def run_dispatch_process(
    env: dict[str, str],
    log_dir: Path,
    name: str,
    options: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> dict:
    """One dispatch run in a fresh process; returns its JSON summary (raises if it failed)."""
    with start_dispatch(env, log_dir, name, options) as child:
        code = child.wait(timeout)
        if code != 0:
            raise AssertionError(f"dispatch run {name} exited {code}:\n{child.stderr()[-3000:]}")
        lines = [line for line in child.stdout().splitlines() if line.startswith("{")]
        return json.loads(lines[-1])


def _dispatch_main(argv: list[str]) -> int:
    """The child: one production dispatch run (options from the env like the Dagster asset, plus the
    time-compression overrides given as JSON), summary on stdout."""
    from trackai import db
    from trackai.dispatch import DispatchOptions, run_dispatch
    from trackai.observability import configure_json_logging
    from trackai.settings import get_settings

    overrides = json.loads(argv[0]) if argv else {}
    if "backoff_seconds" in overrides:
        overrides["backoff_seconds"] = tuple(overrides["backoff_seconds"])
    settings = get_settings()
    assert_loopback(settings.meta_graph_url)
    configure_json_logging("trackai")
    summary = run_dispatch(
        db.database_url(settings), settings, options=DispatchOptions.from_settings(settings, **overrides)
    )
    print(json.dumps(summary, default=str), flush=True)
    return 0


# --- the Graph API fake ---------------------------------------------------------------------------


def free_port() -> int:
    from trackai.net import free_port as _free_port

    return _free_port()


class CapiMockProcess:
    """``trackai capi-mock`` as a child process; configured and read over its /_mock endpoints."""

    def __init__(self, log_dir: Path, *extra_args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child(
            "capi-mock",
            [sys.executable, "-m", "trackai_cli.cli", "capi-mock", "--port", str(self.port), *extra_args],
            child_env(),
            log_dir,
        )
        self.client = httpx.Client(base_url=self.url, timeout=5)

    def start(self, timeout: float = 30) -> CapiMockProcess:
        def up() -> bool:
            if not self.child.alive():
                raise AssertionError(f"capi-mock exited early:\n{self.child.stderr()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/_mock/stats").status_code == 200
            return False

        wait_until(up, timeout, 0.1, "capi-mock to answer")
        return self

    def configure(self, **changes: Any) -> dict:
        response = self.client.post("/_mock/config", json=changes)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        return self.client.get("/_mock/stats").json()

    def accepted(self) -> list[dict]:
        return self.client.get("/_mock/accepted").json()["events"]

    def close(self) -> None:
        self.client.close()
        self.child.stop(grace=5)

    def __enter__(self) -> CapiMockProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class HoldingFake(MockServer):
    """The fake Graph API in a thread; the ``hold_on``-th accepted request (1-based) is recorded by the
    fake, then its 200 is held until :meth:`release` (or ``max_hold`` seconds). ``held`` is set the moment
    that request was accepted, so a test can act while the client waits for the response."""

    def __init__(self, config=None, hold_on: int | None = None, max_hold: float = 60) -> None:
        self.hold_on = hold_on
        self.max_hold = max_hold
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.accepted_requests = 0
        self.held_at: float | None = None
        super().__init__(config)

    def wrap_app(self, app):
        self.inner = app
        return self._app

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/events"):
            await self.inner(scope, receive, send)
            return
        messages: list[dict] = []

        async def capture(message: dict) -> None:
            messages.append(message)

        await self.inner(scope, receive, capture)  # the fake validates and records (or refuses)
        if messages and messages[0].get("status") == 200:
            with self._lock:
                self.accepted_requests += 1
                hold = self.accepted_requests == self.hold_on
            if hold:
                self.held_at = time.time()
                self.held.set()
                deadline = time.monotonic() + self.max_hold
                while not self._release.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
        with contextlib.suppress(Exception):  # the client may be gone (killed): nothing to answer
            for message in messages:
                await send(message)

    def release(self) -> None:
        self._release.set()

    def stop(self) -> None:
        self.release()
        super().stop()

    @property
    def requests(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.requests)


# --- database seeding and readers -----------------------------------------------------------------

UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126 Mobile Safari/537.36"


def seed_purchases(conn: psycopg.Connection, tenant_id: str, n: int, prefix: str = "rel") -> list[str]:
    """``n`` approved, matched purchases (an hour old, one second apart) with their registry rows, as
    the micro-batch leaves them for dispatch (same shape as tests/support/rows.add_purchase).
    Returns the event_ids in the order dispatch claims them (event time)."""
    from trackai.core import pii
    from trackai.core.event_id import event_id as make_event_id

    base = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    with conn.transaction(), conn.cursor() as cur:
        for i in range(n):
            order_id = f"{prefix}-{i:05d}"
            event_id = make_event_id(tenant_id, order_id)
            approved_at = base + timedelta(seconds=i)
            cur.execute(
                """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at,
                       partition_date, amount, currency, product_id, session_id, email_hash, phone_hash,
                       first_conversion_id, last_conversion_id)
                   VALUES (%s, 'hotmart', %s, %s, 'approved', %s, %s, 197.0, 'brl', 'curso-x', %s, %s, %s,
                           %s, %s)""",
                (
                    tenant_id,
                    order_id,
                    event_id,
                    approved_at,
                    approved_at.date(),
                    f"sess-{prefix}-{i}",
                    pii.hash_email(f"{prefix}{i}@example.com"),
                    pii.hash_phone(f"11 9{i:08d}"),
                    i + 1,
                    i + 1,
                ),
            )
            cur.execute(
                """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys,
                       fbc, fbp, client_ip, user_agent, landing_url, external_id, partition_date)
                   VALUES (%s, 'hotmart', %s, %s, 'deterministic', 1, '{session_id}', %s, %s, '2804:14c::1',
                           %s, 'https://shop.example/lp?fbclid=x', %s, %s)""",
                (
                    tenant_id,
                    order_id,
                    i + 1,
                    f"fb.1.1767220000000.IwAR2rel{i}_-XyZ",
                    f"fb.1.1767219000000.{1000 + i}",
                    UA,
                    f"sess-{prefix}-{i}",
                    approved_at.date(),
                ),
            )
            cur.execute(
                """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
                   VALUES (%s, %s, 'hotmart', %s, 'Purchase')""",
                (event_id, tenant_id, order_id),
            )
            ids.append(event_id)
    return ids


def queue_rows(conn: psycopg.Connection, tenant_id: str) -> dict[str, tuple]:
    """event_id -> (status, attempts, sent_at) for one tenant."""
    rows = conn.execute(
        "SELECT event_id, status, attempts, sent_at FROM ops.dispatch_queue WHERE tenant_id = %s",
        (tenant_id,),
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def attempt_rows(conn: psycopg.Connection, tenant_id: str) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT attempt_id, event_id, batch_id::text, attempt_no, status, http_status, error_code,
                      error_message, created_at
                 FROM ops.dispatch_attempts WHERE tenant_id = %s ORDER BY created_at, attempt_id""",
            (tenant_id,),
        ).fetchall()


def requests_from_attempts(rows: list[dict]) -> list[dict]:
    """One entry per HTTP request: attempt rows of one batch written for one response share
    (batch_id, created_at). Ordered by time."""
    seen: dict[tuple, dict] = {}
    for row in rows:
        if row["batch_id"] is None:
            continue
        key = (row["batch_id"], row["created_at"])
        entry = seen.setdefault(
            key,
            {
                "batch_id": row["batch_id"],
                "at": row["created_at"],
                "status": row["status"],
                "http_status": row["http_status"],
                "error_code": row["error_code"],
                "error_message": row["error_message"],
                "events": 0,
            },
        )
        entry["events"] += 1
    return sorted(seen.values(), key=lambda r: r["at"])


def breaker_row(conn: psycopg.Connection, tenant_id: str) -> dict | None:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT state, consecutive_failures, opened_at, last_failure_at, updated_at
                 FROM ops.circuit_breakers WHERE tenant_id = %s""",
            (tenant_id,),
        ).fetchone()


@contextlib.contextmanager
def timed() -> Iterator[dict]:
    box: dict = {"started": time.monotonic()}
    try:
        yield box
    finally:
        box["seconds"] = round(time.monotonic() - box["started"], 2)


if __name__ == "__main__":
    sys.exit(_dispatch_main(sys.argv[1:]))
