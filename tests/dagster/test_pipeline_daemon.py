"""End to end with real processes: a click and a purchase land, the daemon's sensor launches the run.

Slow (daemon start, first sensor tick, queued run in its own process): marked ``reliability``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.runner import dagster_storage_url
from tests.support.processes import Processes, wait_until
from tests.support.rows import land_click, land_conversion
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
    procs = Processes(tmp_path)
    try:
        proc = procs.start("daemon", [str(daemon), "run", "-w", "workspace.yaml"], env, cwd=REPO_ROOT)

        def matched() -> tuple | None:
            assert proc.poll() is None, procs.log("daemon")[-3000:]
            return conn.execute(
                "SELECT stage, matched_keys FROM core.matches WHERE order_id = 'daemon-1'"
            ).fetchone()

        try:
            row = wait_until(matched, "the daemon's run matched the purchase", timeout=240, interval=3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {procs.log('daemon')[-3000:]}") from None
        assert row[0] == "semi_deterministic"
    finally:
        procs.stop(timeout=30)
        db.drop_database(pg_server_url, name)
