"""A replay or a retry is sent by its own dispatch run, not when the next purchase happens to arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from dagster_project.defs.dispatch import dispatch_due_sensor
from dagster_project.lib.keys import DISPATCH_DUE_JOB
from dagster_project.lib.resources import PostgresResource
from tests.support.rows import add_purchase
from trackai.dispatch import store


def _tick(instance, pg_url):
    ctx = dg.build_sensor_context(instance=instance, resources={"postgres": PostgresResource(url=pg_url)})
    return dispatch_due_sensor(ctx)


def test_due_events_request_one_dispatch_run_and_nothing_due_skips(conn, pg_url, make_tenant) -> None:
    with dg.instance_for_test() as instance:
        result = _tick(instance, pg_url)
        assert isinstance(result, dg.SkipReason) and "no queued event is due" in result.skip_message

        tenant, _ = make_tenant()
        add_purchase(conn, tenant)
        now = datetime.now(UTC)
        assert store.enqueue(conn, margin=timedelta(hours=1), now=now - timedelta(seconds=5)) == 1
        request = _tick(instance, pg_url)
        assert isinstance(request, dg.RunRequest) and request.tags["trackai/due_events"] == "1"

        # one in flight: no second request until it ends
        instance.add_run(dg.DagsterRun(job_name=DISPATCH_DUE_JOB, status=dg.DagsterRunStatus.STARTED))
        skipped = _tick(instance, pg_url)
        assert isinstance(skipped, dg.SkipReason) and "already in flight" in skipped.skip_message

        conn.execute("UPDATE ops.dispatch_queue SET next_attempt_at = now() + interval '5 minutes'")
        assert isinstance(_tick(instance, pg_url), dg.SkipReason)  # backing off: not due yet
