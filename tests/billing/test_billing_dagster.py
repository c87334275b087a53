"""The reconciliation asset check (ERROR) runs as the pipeline role: green when billed = ledger = accepted,
red with the differing tenant-period and the runbook when the ledger holds an event Meta never accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx

from dagster_project.defs.billing import RECONCILIATION_JOB, build_defs
from dagster_project.lib.resources import PostgresResource
from tests.billing.helpers import add_events, ensure_plans, subscribe
from trackai import db
from trackai.billing import ledger
from trackai.core import billing as rules
from trackai.core.event_id import event_id as make_event_id
from trackai.dispatch import DispatchOptions, run_dispatch
from trackai.settings import Settings


def _ok(request: httpx.Request) -> httpx.Response:
    data = json.loads(request.content)["data"]
    return httpx.Response(200, json={"events_received": len(data), "fbtrace_id": "F"})


def _evaluate(url: str) -> dg.AssetCheckEvaluation:
    defs = dg.Definitions.merge(
        build_defs(), dg.Definitions(resources={"postgres": PostgresResource(url=url)})
    )
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(RECONCILIATION_JOB).execute_in_process(instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_reconciliation_check_green_then_red(pg_url, conn, make_tenant) -> None:
    ensure_plans(conn)
    tenant, _ = make_tenant()
    now = datetime.now(UTC)
    subscribe(conn, tenant, "tiny-warn", now - timedelta(days=40))
    add_events(conn, tenant, 4, now - timedelta(hours=1))
    run_dispatch(
        conn,
        Settings(meta_graph_url="http://127.0.0.1:9"),
        now=now,
        sleep=lambda s: None,
        options=DispatchOptions(),
        transport=httpx.MockTransport(_ok),
    )
    pipeline = db.with_user(pg_url, "trackai_pipeline")
    green = _evaluate(pipeline)
    assert green.passed and green.severity == dg.AssetCheckSeverity.ERROR
    assert green.metadata["checked"].value >= 1

    with conn.transaction():  # billed but never accepted by Meta: must page someone
        ledger.record_accepted(conn, [(tenant, make_event_id(tenant, "ghost"), now)], now=now)
    red = _evaluate(pipeline)
    assert not red.passed and red.severity == dg.AssetCheckSeverity.ERROR
    assert red.metadata["differences"].value == [
        {"tenant_id": tenant, "period": rules.period_of(now), "billed": 5, "ledger": 5, "accepted": 4}
    ]
    assert red.metadata["runbook"].value.endswith("billing.md")


def test_monthly_close_refuses_a_red_period_then_closes_once(pg_url, conn, make_tenant) -> None:
    from dagster_project.defs.billing import CLOSE_JOB

    tenant, _ = make_tenant()
    previous = rules.previous_period(rules.period_of(datetime.now(UTC)))
    at = rules.period_bounds(previous)[0] + timedelta(days=3)
    ensure_plans(conn)
    subscribe(conn, tenant, "tiny-warn", at - timedelta(days=40))
    with conn.transaction():  # billed without an accepted attempt: the close must refuse
        ledger.record_accepted(conn, [(tenant, make_event_id(tenant, "old-ghost"), at)], now=at)
    defs = dg.Definitions.merge(
        build_defs(),
        dg.Definitions(
            resources={"postgres": PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))}
        ),
    )
    job = defs.resolve_job_def(CLOSE_JOB)
    with dg.instance_for_test() as instance:
        failed = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    closes = "SELECT count(*) FROM billing.billing_events WHERE tenant_id = %s AND kind IN ('period_close', 'invoice')"
    assert conn.execute(closes, (tenant,)).fetchone()[0] == 0
    # the same period with its attempt in place (a real acceptance): green, closed and invoiced once
    conn.execute(
        """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status, created_at)
           VALUES (%s, %s, 'stripe', '1', 1, 'success', %s)""",
        (tenant, make_event_id(tenant, "old-ghost"), at),
    )
    for _ in range(2):
        with dg.instance_for_test() as instance:
            assert job.execute_in_process(instance=instance).success
    rows = conn.execute(
        "SELECT kind, used, details->>'total_brl' FROM billing.billing_events WHERE tenant_id = %s"
        " AND kind IN ('period_close', 'invoice') ORDER BY kind",
        (tenant,),
    ).fetchall()
    assert rows == [("invoice", 1, "9.90"), ("period_close", 1, None)]  # tiny-warn all month, 1 of 5
