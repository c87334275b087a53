"""The checked-in dagster_home/dagster.yaml works: Postgres run/event storage, queued runs limited to one."""

from __future__ import annotations

import secrets
import shutil
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.defs.pipeline.assets import CONCURRENCY_TAG, DEDUPE_REGISTRY, MATCHES, PURCHASES
from dagster_project.runner import ensure_instance_env, pipeline_only_definitions, run_micro_batch
from tests.matching.landing_rows import land_click, land_conversion
from trackai import db
from trackai.settings import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_instance(pg_url, pg_server_url, tmp_path_factory):
    name = f"trackai_test_dagster_{secrets.token_hex(3)}"
    db.ensure_database(pg_server_url, name)
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("TRACKAI_DAGSTER_DATABASE_URL", db.with_database(pg_server_url, name))
        ensure_instance_env()  # what every trackai entry point does before touching the instance
        instance = dg.DagsterInstance.get()
        try:
            yield instance
        finally:
            instance.dispose()
            db.drop_database(pg_server_url, name)


def test_micro_batch_on_postgres_backed_instance(conn, make_tenant, pg_instance):
    from dagster_postgres import PostgresRunStorage

    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    limits = pg_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": CONCURRENCY_TAG, "value": "micro_batch", "limit": 1} in limits
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"

    tenant, _ = make_tenant()
    at = datetime.now(UTC) - timedelta(hours=1)
    land_click(conn, tenant, session_id="pg-1", occurred_at=at - timedelta(minutes=3))
    land_conversion(conn, tenant, order_id="pg-1", event_time=at, tracking={"xcod": "pg-1"})
    summary = run_micro_batch(
        instance=pg_instance,
        definitions=pipeline_only_definitions(),
        asset_selection=[PURCHASES, MATCHES, DEDUPE_REGISTRY],
    )
    assert summary["matched"]["deterministic"] == 1
    (run,) = pg_instance.get_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == "micro_batch_job"
    assert run.tags[CONCURRENCY_TAG] == "micro_batch"
    event = pg_instance.get_latest_materialization_event(MATCHES)
    assert event is not None and event.asset_materialization.metadata["matched_deterministic"].value == 1


def test_cli_pipeline_run_prints_a_json_summary(conn, make_tenant, pg_instance, monkeypatch, capsys):
    import json

    from dagster_project import runner
    from trackai_cli import cli

    monkeypatch.setattr(runner, "load_definitions", pipeline_only_definitions)  # dispatch is tested elsewhere
    tenant, _ = make_tenant()
    at = datetime.now(UTC) - timedelta(hours=2)
    land_click(conn, tenant, session_id="cli-1", occurred_at=at - timedelta(hours=1), fbclid="IwAR_cli")
    land_conversion(conn, tenant, order_id="cli-1", event_time=at, fbc="fb.1.1700000000000.IwAR_cli")
    assert cli.main(["pipeline", "run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (
        out["purchases_processed"] == 1
        and out["matched"]["semi_deterministic"] == 1
        and out["unmatched"] == 0
    )
    assert cli.main(["pipeline", "run"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    assert cli.main(["pipeline", "run", "--partition", at.date().isoformat()]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["runs"][0]["partitions"] == at.date().isoformat() and again["dedupe_inserted"] == 0
    assert cli.main(["pipeline", "run", "--partition", "not-a-date"]) == 1
