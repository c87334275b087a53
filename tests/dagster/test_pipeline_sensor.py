"""Sensor logic with build_sensor_context, then the requested run executed through the same job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.defs.pipeline.sensors import micro_batch_sensor
from dagster_project.lib.keys import (
    MICRO_BATCH_JOB,
    MODE_INCREMENTAL,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TAG_MODE,
    TAG_WATERMARK_TO,
)
from dagster_project.lib.resources import PostgresResource
from dagster_project.runner import pipeline_only_definitions
from tests.support.rows import land_click, land_conversion
from trackai.pipeline import batch

pytestmark = pytest.mark.integration
T = (datetime.now(UTC) - timedelta(days=3)).replace(hour=23, minute=50, second=0, microsecond=0)


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True)
def _no_settle(setenv):
    setenv("TRACKAI_PIPELINE_SETTLE_SECONDS", "0")


def _tick(instance, pg_url, cursor=None):
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": PostgresResource(url=pg_url)}
    )
    return micro_batch_sensor(ctx)


def test_sensor_skips_requests_and_is_satisfied_by_the_run(conn, pg_url, make_tenant, instance):
    tenant, _ = make_tenant()
    result = _tick(instance, pg_url)
    assert isinstance(result, dg.SkipReason) and "no new" in result.skip_message

    land_click(conn, tenant, session_id="sens-1", occurred_at=T - timedelta(minutes=10), fbclid="IwAR_s1")
    land_conversion(conn, tenant, order_id="s-1", event_time=T, session_id="sens-1")
    land_conversion(conn, tenant, order_id="s-2", event_time=T + timedelta(minutes=20), fbclid="IwAR_s1")
    latest = batch.latest_conversion_id(conn)

    result = _tick(instance, pg_url)
    assert isinstance(result, dg.SensorResult) and result.cursor == str(latest)
    (request,) = result.run_requests
    assert request.run_key == f"conversions:{latest}"
    day1, day2 = T.date().isoformat(), (T + timedelta(days=1)).date().isoformat()
    assert request.partition_key is None  # the new rows span two days -> one range run
    assert request.tags[RANGE_START_TAG] == day1 and request.tags[RANGE_END_TAG] == day2
    assert request.tags[TAG_MODE] == MODE_INCREMENTAL and request.tags[TAG_WATERMARK_TO] == str(latest)

    again = _tick(instance, pg_url, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason) and "already requested" in again.skip_message

    job = pipeline_only_definitions().resolve_job_def(MICRO_BATCH_JOB)
    run = job.execute_in_process(instance=instance, tags=request.tags, partition_key=request.partition_key)
    assert run.success
    stages = dict(conn.execute("SELECT order_id, stage FROM core.matches").fetchall())
    assert stages == {"s-1": "deterministic", "s-2": "semi_deterministic"}

    done = _tick(instance, pg_url, cursor=result.cursor)
    assert isinstance(done, dg.SkipReason) and "no new" in done.skip_message


def test_rows_younger_than_the_settle_time_wait_for_the_next_tick(
    conn, pg_url, make_tenant, setenv, instance
):
    tenant, _ = make_tenant()
    before = _tick(instance, pg_url)
    land_conversion(conn, tenant, order_id="fresh", event_time=T)
    setenv("TRACKAI_PIPELINE_SETTLE_SECONDS", "600")
    result = _tick(instance, pg_url)
    assert isinstance(result, dg.SkipReason), before
    setenv("TRACKAI_PIPELINE_SETTLE_SECONDS", "0")
    (request,) = _tick(instance, pg_url).run_requests
    assert request.run_key == f"conversions:{batch.latest_conversion_id(conn)}"


def test_single_day_batch_requests_a_partition_key(conn, pg_url, make_tenant, instance):
    tenant, _ = make_tenant()
    land_conversion(conn, tenant, order_id="one-day", event_time=T - timedelta(hours=2))
    result = _tick(instance, pg_url)
    (request,) = result.run_requests
    assert request.partition_key == T.date().isoformat() and RANGE_START_TAG not in request.tags
