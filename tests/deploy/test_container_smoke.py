"""Container smoke (issue 20): the image, not the checkout, runs the service against a real Postgres.

``make smoke-containers`` builds the image (deploy/build-image.sh) and runs this module with
SMOKE_IMAGE set. In the containers (``--network=host``, the machine's Postgres on 127.0.0.1): the
one-shot migration as the owner; the ingest service in production mode as trackai_app_rw (and its refusal
to start as a superuser); the Graph API fake; the ops exporter as trackai_metrics; the Dagster code
server; the seller console; then one micro-batch (match, dedupe, dispatch) as trackai_pipeline. From
outside, like a gateway and a landing page: a small demo's clicks and signed webhooks over HTTP. Done
when the fake has accepted the purchases the queue marks sent and the exporter has counted them.
Everything it started is removed, and its databases dropped.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.support.processes import wait_until
from trackai import db
from trackai.net import free_port as _free_port

PODMAN = shutil.which("podman")
IMAGE = os.environ.get("SMOKE_IMAGE")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PODMAN, reason="podman is not installed (.ci/run installs it; `make smoke-containers` runs this)"
    ),
    pytest.mark.skipif(
        not IMAGE,
        reason="SMOKE_IMAGE is not set: `make smoke-containers` builds the image and runs this test",
    ),
]


def _podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.path.join(REPO, "deploy", "podman", "containers.conf")}


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``podman run --rm`` of the image with ``env``; returns the finished process (never raises)."""
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    return subprocess.run(
        [PODMAN, "run", "--rm", "--network=host", *flags, IMAGE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_podman_env(),
    )


class Containers:
    """Detached containers of one smoke run, removed at the end whatever happened."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: list[str] = []

    def start(self, name: str, role: str, env: dict[str, str]) -> str:
        full = f"{self.prefix}-{name}"
        flags = [f"--env={k}={v}" for k, v in env.items()]
        subprocess.run(
            [PODMAN, "run", "-d", "--name", full, "--network=host", *flags, IMAGE, role],
            check=True,
            capture_output=True,
            env=_podman_env(),
        )
        self.names.append(full)
        return full

    def healthy(self, name: str) -> bool:
        """The image's HEALTHCHECK, run once now (podman's timers need systemd, absent here)."""
        done = subprocess.run(
            [PODMAN, "healthcheck", "run", name], capture_output=True, text=True, env=_podman_env()
        )
        return done.returncode == 0

    def logs(self, name: str) -> str:
        done = subprocess.run([PODMAN, "logs", name], capture_output=True, text=True, env=_podman_env())
        return (done.stdout + done.stderr)[-4000:]

    def report(self) -> str:
        """Status and log tail of every container (printed when the smoke fails)."""
        return "\n".join(f"--- {name}\n{self.logs(name)}" for name in self.names)

    def remove_all(self) -> None:
        if self.names:
            subprocess.run(
                [PODMAN, "rm", "-f", "-t", "5", *self.names], capture_output=True, env=_podman_env()
            )


def _wait(predicate, what: str, timeout: float = 90) -> None:
    wait_until(predicate, what, timeout, interval=0.5)


@pytest.fixture
def smoke_databases(pg_server_url: str) -> Iterator[tuple[str, str]]:
    if "@/" in pg_server_url or "host=/" in pg_server_url or not urlsplit(pg_server_url).hostname:
        pytest.skip(
            "the containers need Postgres over TCP: TRACKAI_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres"
        )
    name = f"trackai_smoke_{secrets.token_hex(3)}"
    for database in (name, f"{name}_dagster"):
        db.ensure_database(pg_server_url, database)
    try:
        yield db.with_database(pg_server_url, name), db.with_database(pg_server_url, f"{name}_dagster")
    finally:
        for database in (name, f"{name}_dagster"):
            db.drop_database(pg_server_url, database)


def test_image_serves_a_quick_demo_end_to_end(smoke_databases, setenv):
    from trackai_cli.demo import DEMO_TENANTS, Progress, ensure_demo_tenants, send_traffic
    from trackai_cli.demo_traffic import plan_traffic

    admin_url, dagster_url = smoke_databases
    as_role = lambda role: db.with_user(admin_url, role)  # noqa: E731 - roles of sql/0001, 0531, 0600, 0801
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    production = {"TRACKAI_ENV": "production", "TRACKAI_SECRET_KEY": key}
    timings: dict[str, float] = {}
    started = time.monotonic()

    done = _run("migrate", env={**production, "TRACKAI_DATABASE_URL": admin_url})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0800_gateway_flags.sql" in done.stdout
    timings["migrate"] = time.monotonic() - started

    refused = _run("ingest", env={**production, "TRACKAI_DATABASE_URL": admin_url, "PORT": str(_free_port())})
    assert refused.returncode != 0
    assert "refusing to start in production" in refused.stderr
    timings["least-privilege refusal"] = time.monotonic() - started

    ports = {name: _free_port() for name in ("ingest", "capi", "exporter", "code", "console")}
    metrics_port = _free_port()
    containers = Containers(f"trackai-smoke-{secrets.token_hex(3)}")
    try:
        mock = containers.start("capi", "capi-mock", {"PORT": str(ports["capi"])})
        ingest = containers.start(
            "ingest",
            "ingest",
            {
                **production,
                "PORT": str(ports["ingest"]),
                "WORKERS": "2",
                "TRACKAI_DATABASE_URL": as_role("trackai_app_rw"),
                "TRACKAI_METRICS_PORT": str(metrics_port),
            },
        )
        exporter = containers.start(
            "exporter",
            "ops-exporter",
            {
                **production,
                "PORT": str(ports["exporter"]),
                "TRACKAI_DATABASE_URL": as_role("trackai_metrics"),
                "TRACKAI_METRICS_DATABASE_URL": as_role("trackai_metrics"),
            },
        )
        pipeline_env = {
            **production,
            "TRACKAI_DATABASE_URL": as_role("trackai_pipeline"),
            "TRACKAI_PIPELINE_DATABASE_URL": as_role("trackai_pipeline"),
            "TRACKAI_DBT_DATABASE_URL": as_role("trackai_dbt"),
            "TRACKAI_DAGSTER_DATABASE_URL": dagster_url,
            "TRACKAI_META_GRAPH_URL": f"http://127.0.0.1:{ports['capi']}",
        }
        code = containers.start("code", "code-server", {**pipeline_env, "PORT": str(ports["code"])})
        console = containers.start(
            "console",
            "console",
            {
                **production,
                "PORT": str(ports["console"]),
                "TRACKAI_DATABASE_URL": as_role("trackai_console"),
                "TRACKAI_CONSOLE_DATABASE_URL": as_role("trackai_console"),
            },
        )

        ingest_url = f"http://127.0.0.1:{ports['ingest']}"
        mock_url = f"http://127.0.0.1:{ports['capi']}"
        exporter_url = f"http://127.0.0.1:{ports['exporter']}/metrics"
        _wait(lambda: httpx.get(f"{ingest_url}/ready", timeout=2).status_code == 200, "ingest /ready")
        _wait(lambda: httpx.get(f"{mock_url}/_mock/stats", timeout=2).status_code == 200, "Graph API fake")
        _wait(lambda: httpx.get(exporter_url, timeout=2).status_code == 200, "ops exporter")
        for name in (ingest, mock, exporter):  # the image's HEALTHCHECK agrees
            _wait(lambda name=name: containers.healthy(name), f"{name} healthcheck", timeout=60)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "trackai_ingest_requests_total" in metrics  # the internal listener, not the public port
        assert httpx.get(f"{ingest_url}/metrics", timeout=5).status_code == 404
        timings["services up"] = time.monotonic() - started

        # The traffic of a small demo, from outside the containers: one tenant, signed webhooks.
        setenv("TRACKAI_SECRET_KEY", key)
        setenv("TRACKAI_DATABASE_URL", admin_url)
        ensure_demo_tenants(admin_url)
        spec = DEMO_TENANTS[0]
        plan = plan_traffic(spec["tenant_id"], seed=21, visitors=60, purchases=12, bad_signatures=1)
        stats = send_traffic(ingest_url, spec, plan, Progress(total_steps=1))
        assert stats.clicks >= 60
        assert stats.webhooks[200] >= 12 and stats.webhooks[401] == 1, dict(stats.webhooks)
        timings["traffic"] = time.monotonic() - started

        batch = _run("pipeline", "run", env=pipeline_env)
        timings["micro-batch"] = time.monotonic() - started

        stats_now = httpx.get(f"{mock_url}/_mock/stats", timeout=5).json()
        accepted = httpx.get(f"{mock_url}/_mock/accepted", timeout=5).json()
        events = accepted.get("events", accepted) if isinstance(accepted, dict) else accepted
        with psycopg.connect(admin_url) as conn:
            sent = conn.execute("SELECT count(*) FROM ops.dispatch_queue WHERE status = 'sent'").fetchone()[0]
        assert sent >= 1
        assert stats_now["distinct_event_ids"] == sent
        assert {e.get("event_name") for e in events} == {"Purchase"}
        assert {e.get("_pixel_id") for e in events} == {spec["pixel_id"]}
        assert batch.returncode == 0, batch.stdout[-2000:] + batch.stderr[-3000:]  # dbt and checks too

        def counted() -> bool:  # the exporter counts attempts once they are older than its settle time
            text = httpx.get(exporter_url, timeout=5).text
            line = next(
                x for x in text.splitlines() if x.startswith('trackai_capi_attempts_total{status="success"}')
            )
            return float(line.rsplit(" ", 1)[1]) == sent

        _wait(counted, "exporter counting the sent events", timeout=30)
        _wait(
            lambda: containers.healthy(code),
            "Dagster code server (definitions load in the image)",
            timeout=90,
        )
        timings["checks"] = time.monotonic() - started
        # As trackai_console (no CREATE): the start-up migration check reads ops.migration_status() (sql/1400).
        _wait(lambda: containers.healthy(console), "console as trackai_console", timeout=90)
        login = httpx.get(f"http://127.0.0.1:{ports['console']}/login", timeout=10)
        assert login.status_code == 200 and "<form" in login.text, login.text[:500]
        assert "migration(s) pending" not in containers.logs(console)
        timings["console"] = time.monotonic() - started
    except Exception:
        print(containers.report())
        raise
    finally:
        containers.remove_all()
        print(
            "container smoke timings (cumulative s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        )
