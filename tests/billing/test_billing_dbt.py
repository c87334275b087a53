"""The usage marts (dbt, incremental by day) agree with the live counters and with the reconciliation, built
as the dbt role; retries and replays accepted again never count twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from dagster_project.lib import dbt_runner
from dagster_project.lib.dbt_vars import partition_vars
from tests.billing.helpers import add_events, ensure_plans, subscribe
from trackai import db
from trackai.billing import reconcile
from trackai.core import billing as rules
from trackai.dispatch import DispatchOptions, replay, run_dispatch
from trackai.settings import Settings

NO_SLEEP = lambda s: None  # noqa: E731


def _ok(request: httpx.Request) -> httpx.Response:
    data = json.loads(request.content)["data"]
    return httpx.Response(200, json={"events_received": len(data), "fbtrace_id": "F"})


def test_usage_marts_match_counters_and_reconciliation(pg_url, conn, make_tenant, tmp_path) -> None:
    ensure_plans(conn)
    tenant, _ = make_tenant()
    now = datetime.now(UTC)
    subscribe(conn, tenant, "tiny-warn", now - timedelta(days=40))
    events = add_events(conn, tenant, 7, now - timedelta(hours=3))
    settings = Settings(meta_graph_url="http://127.0.0.1:9")
    kw = {"sleep": NO_SLEEP, "options": DispatchOptions(batch_size=3), "transport": httpx.MockTransport(_ok)}
    assert run_dispatch(conn, settings, now=now, **kw)["sent"] == 7
    replay(conn, tenant_id=tenant, event_ids=events[:3], now=now)  # accepted again: no new usage
    assert run_dispatch(conn, settings, now=now + timedelta(minutes=1), **kw)["sent"] == 3

    dbt_url = db.with_user(pg_url, "trackai_dbt")
    proc = dbt_runner.build(dbt_url, select="+fct_billing_usage_period", target_path=tmp_path, capture=True)
    assert "Completed successfully" in proc.stdout, proc.stdout[-3000:]
    period = rules.period_of(now)
    mart = conn.execute(
        "SELECT billable_events, accepted_events FROM analytics.fct_billing_usage_period"
        " WHERE tenant_id = %s AND period = %s",
        (tenant, period),
    ).fetchone()
    live = [r for r in reconcile.reconcile(conn, [period]) if r["tenant_id"] == tenant]
    assert mart == (7, 7)
    assert live == [
        {"tenant_id": tenant, "period": period, "billed": 7, "ledger": 7, "accepted": 7, "ok": True}
    ]

    # an incremental run over today's partition keeps the numbers (delete+insert of the window)
    more = add_events(conn, tenant, 2, now - timedelta(hours=1))
    assert run_dispatch(conn, settings, now=now + timedelta(minutes=2), **kw)["sent"] == len(more)
    today = now.date()
    dbt_runner.build(
        dbt_url,
        select="fct_billing_usage_daily fct_billing_usage_period",
        variables=partition_vars(today, today + timedelta(days=1)),
        target_path=tmp_path,
        capture=True,
    )
    assert conn.execute(
        "SELECT billable_events, accepted_events FROM analytics.fct_billing_usage_period"
        " WHERE tenant_id = %s AND period = %s",
        (tenant, period),
    ).fetchone() == (9, 9)
