"""End to end with real processes: a click and a purchase land, the daemon's sensor launches the run.

Slow (daemon start, first sensor tick, queued run in its own process): marked ``reliability``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.runner import dagster_storage_url
from tests.matching.landing_rows import land_click, land_conversion
from trackai import db
from trackai.settings import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_sensor_started_run_matches_a_landed_click_and_purchase(
    conn, pg_url, pg_server_url, make_tenant, tmp_path
):
    tenant, _ = make_tenant()
    at = datetime.now(UTC) - timedelta(minutes=5)
    land_click(
        conn, tenant, session_id="daemon-1", occurred_at=at - timedelta(minutes=2), fbclid="IwAR_daemon"
    )
    land_conversion(conn, tenant, order_id="daemon-1", event_time=at, fbclid="IwAR_daemon")

    name = f"trackai_test_daemon_{secrets.token_hex(3)}"
    db.ensure_database(pg_server_url, name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRACKAI_DATABASE_URL": pg_url,
        "TRACKAI_DAGSTER_DATABASE_URL": dagster_storage_url(db.with_database(pg_server_url, name)),
        "TRACKAI_PIPELINE_SETTLE_SECONDS": "0",
        "TRACKAI_META_GRAPH_URL": "http://127.0.0.1:9",  # nothing listens: dispatch fails fast, never reaches Meta
    }
    daemon = Path(sys.executable).parent / "dagster-daemon"
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen(
        [str(daemon), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        row = None
        while time.monotonic() < deadline and row is None:
            time.sleep(3)
            row = conn.execute(
                "SELECT stage, matched_keys FROM core.matches WHERE order_id = 'daemon-1'"
            ).fetchone()
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert row is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert row[0] == "semi_deterministic"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # the daemon's code server may outlive it
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        db.drop_database(pg_server_url, name)
