"""The checked-in dagster_home/dagster.yaml works: Postgres run/event storage, queued runs limited to one,
and the micro-batch pool holds any run that executes the step (the CLI's in-process runs included)."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.lib.keys import (
    CONCURRENCY_TAG,
    DBT_CONCURRENCY,
    DEDUPE_REGISTRY,
    MATCHES,
    MICRO_BATCH_CONCURRENCY,
    MICRO_BATCH_JOB,
    MICRO_BATCH_POOL,
    PURCHASES,
)
from dagster_project.runner import ensure_instance_env, pipeline_only_definitions, run_micro_batch
from tests.support.rows import land_click, land_conversion
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
    config = pg_instance.get_concurrency_config()
    limits = config.run_queue_config.tag_concurrency_limits
    assert {"key": CONCURRENCY_TAG, "value": MICRO_BATCH_CONCURRENCY, "limit": 1} in limits
    assert {"key": CONCURRENCY_TAG, "value": DBT_CONCURRENCY, "limit": 1} in limits
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    # every pool (trackai_micro_batch, dbt_postgres) holds one step at a time, enforced per step
    assert pg_instance.global_op_concurrency_default_limit == 1
    assert config.pool_config.pool_granularity.value == "op"

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
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.job_name == MICRO_BATCH_JOB
    assert run.tags[CONCURRENCY_TAG] == MICRO_BATCH_CONCURRENCY
    event = pg_instance.get_latest_materialization_event(MATCHES)
    assert event is not None and event.asset_materialization.metadata["matched_deterministic"].value == 1


def test_a_run_waits_while_another_run_holds_the_micro_batch_pool(conn, make_tenant, pg_instance):
    """What makes a UI asset backfill (``__ASSET_JOB``, no run tags) and ``trackai pipeline run`` share one
    limit: the step's pool. Another run holds the slot -> this in-process run waits; freed -> it runs."""
    tenant, _ = make_tenant()
    at = datetime.now(UTC) - timedelta(hours=1)
    land_click(conn, tenant, session_id="pool-1", occurred_at=at - timedelta(minutes=3))
    land_conversion(conn, tenant, order_id="pool-1", event_time=at, tracking={"xcod": "pool-1"})
    storage = pg_instance.event_log_storage
    if MICRO_BATCH_POOL not in storage.get_concurrency_keys():  # set by the first run that used the pool
        storage.initialize_concurrency_limit_to_default(MICRO_BATCH_POOL)
    assert storage.claim_concurrency_slot(MICRO_BATCH_POOL, "backfill-run", "micro_batch").is_claimed

    done: dict = {}

    def batch() -> None:
        done["summary"] = run_micro_batch(
            instance=pg_instance,
            definitions=pipeline_only_definitions(),
            asset_selection=[PURCHASES, MATCHES, DEDUPE_REGISTRY],
        )

    worker = threading.Thread(target=batch)
    try:
        worker.start()
        waited_until = time.monotonic() + 4
        while time.monotonic() < waited_until:
            assert (
                conn.execute("SELECT count(*) FROM core.matches WHERE order_id = 'pool-1'").fetchone()[0] == 0
            )
            time.sleep(0.5)
        info = storage.get_concurrency_info(MICRO_BATCH_POOL)
        assert info.slot_count == 1 and "backfill-run" in info.active_run_ids
        assert worker.is_alive() and "summary" not in done
    finally:
        storage.free_concurrency_slot_for_step("backfill-run", "micro_batch")
    worker.join(timeout=60)
    assert not worker.is_alive() and done["summary"]["matched"]["deterministic"] == 1
    assert storage.get_concurrency_info(MICRO_BATCH_POOL).active_slot_count == 0


def test_a_queued_asset_backfill_run_is_not_started_while_the_pool_is_held(pg_instance):
    """The check the queued-run coordinator makes before it starts a run (Dagster's own counter): a run of
    ``__ASSET_JOB`` for the pipeline assets, as a UI asset backfill creates it, waits for the pool."""
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.op_concurrency_limits_counter import GlobalOpConcurrencyLimitsCounter

    asset_job = pipeline_only_definitions().resolve_implicit_global_asset_job_def()
    run = pg_instance.create_run_for_job(
        job_def=asset_job,
        asset_selection=frozenset({PURCHASES, MATCHES, DEDUPE_REGISTRY}),
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={"dagster/partition": "2026-03-01"},
    )
    assert run.job_name == "__ASSET_JOB" and CONCURRENCY_TAG not in run.tags
    assert run.run_op_concurrency.root_key_counts == {MICRO_BATCH_POOL: 1}
    storage = pg_instance.event_log_storage

    def blocked() -> bool:
        counter = GlobalOpConcurrencyLimitsCounter(
            pg_instance,
            [run],
            [],
            storage.get_concurrency_keys(),
            storage.get_pool_limits(),
            pool_granularity=PoolGranularity.OP,
        )
        return counter.is_blocked(run)

    assert not blocked()
    assert storage.claim_concurrency_slot(MICRO_BATCH_POOL, "sensor-run", "micro_batch").is_claimed
    try:
        assert blocked()
    finally:
        storage.free_concurrency_slot_for_step("sensor-run", "micro_batch")
    assert not blocked()
    pg_instance.delete_run(run.run_id)


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
