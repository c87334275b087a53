"""A micro-batch through micro_batch_job leaves every dbt mart materialised (what `make demo` shows).

The full code location, a test instance, the Graph API fake: the run matches, dispatches, then the dbt
steps. Views are built by dbt the first time, recorded as current while their definition is unchanged
(their rows follow the tables the run wrote), and rebuilt when one is missing; the daily table is rebuilt
for the run's day unless that partition was rebuilt less than DAILY_REFRESH_SECONDS ago (then the views
below it, e.g. fct_billing_usage_period, wait for its next rebuild with it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.lib import keys
from dagster_project.runner import run_micro_batch
from tests.support.rows import land_click, land_conversion
from trackai.core.emq import estimated_emq
from trackai_cli.capi_mock import MockConfig, MockServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def defs():
    from dagster_project.definitions import build_all_defs
    from dagster_project.lib import dbt_runner

    dbt_runner.prepare()  # the assets must be the models dbt builds now, not those of an older parse
    return build_all_defs()


UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def _land_purchase(conn, tenant: str, order_id: str) -> None:
    at = datetime.now(UTC) - timedelta(minutes=2)
    land_click(
        conn,
        tenant,
        session_id=order_id,
        occurred_at=at - timedelta(minutes=5),
        client_ip="203.0.113.9",
        user_agent=UA,
    )
    land_conversion(
        conn, tenant, order_id=order_id, event_time=at, tracking={"xcod": order_id}, user_agent=UA
    )


def _rebuilt(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    return instance.get_latest_materialization_event(key).asset_materialization.metadata["rebuilt"].value


def test_every_dbt_mart_is_materialised_by_the_micro_batch(conn, make_tenant, setenv, monkeypatch, defs):
    from dagster_project.defs import dbt as dbt_domain

    graph = defs.resolve_asset_graph()
    models = sorted(
        (k for k in graph.get_all_asset_keys() if k.path[0] == keys.ANALYTICS_PREFIX),
        key=lambda k: k.to_user_string(),
    )
    views = [k for k in models if graph.get(k).partitions_def is None]
    assert keys.ANALYTICS_METRICS_DAILY in models and keys.model_key("fct_dispatched_events") in views
    tenant, _ = make_tenant()
    with MockServer(MockConfig()) as fake, dg.instance_for_test() as instance:
        setenv("TRACKAI_META_GRAPH_URL", fake.url)
        _land_purchase(conn, tenant, "marts-1")
        first = run_micro_batch(instance=instance, definitions=defs)
        assert first["runs"][0]["success"] and first["matched"]["deterministic"] == 1
        assert len(fake.event_ids()) == 1  # dispatched before the dbt steps
        never = [k.to_user_string() for k in models if instance.get_latest_materialization_event(k) is None]
        assert never == []
        assert sorted(first["runs"][0]["dbt_models"]) == sorted(k.path[-1] for k in models)
        assert all(_rebuilt(instance, k) for k in views)
        today = datetime.now(UTC).date().isoformat()
        daily = instance.get_materialized_partitions(keys.ANALYTICS_METRICS_DAILY)
        assert today in daily or (datetime.now(UTC) - timedelta(minutes=2)).date().isoformat() in daily
        for key in (keys.PURCHASES, keys.MATCHES, keys.DISPATCH_QUEUE, keys.DLQ, keys.CIRCUIT_BREAKERS):
            assert instance.get_latest_materialization_event(key) is not None, key
        sent = instance.get_latest_materialization_event(keys.DISPATCH_QUEUE).asset_materialization
        assert sent.metadata["sent"].value == 1

        # second batch: the views are current without DDL and show the new rows; the daily table, rebuilt
        # less than DAILY_REFRESH_SECONDS ago for this day, is left to the next run or the automation
        first_daily = instance.get_latest_materialization_event(keys.ANALYTICS_METRICS_DAILY).run_id
        _land_purchase(conn, tenant, "marts-2")
        second = run_micro_batch(instance=instance, definitions=defs)
        assert second["runs"][0]["success"] and len(fake.event_ids()) == 2
        recorded = [k for k in views if _latest_run(instance, k) == second["runs"][0]["run_id"]]
        assert recorded and not any(_rebuilt(instance, k) for k in recorded)
        # views downstream of a daily table wait with it (its step is skipped): still materialised, unchanged
        assert set(views) - set(recorded) <= _downstream_of_daily(graph, models)
        rows = conn.execute(
            "SELECT f.estimated_emq, q.payload -> 'user_data' FROM analytics.fct_dispatched_events f"
            " JOIN ops.dispatch_queue q USING (event_id) WHERE f.tenant_id = %s",
            (tenant,),
        ).fetchall()
        assert len(rows) == 2 and all(float(score) == estimated_emq(ud) for score, ud in rows)
        assert instance.get_latest_materialization_event(keys.ANALYTICS_METRICS_DAILY).run_id == first_daily
        assert _dispatched_in_daily_table(conn, tenant) == 1

        # a view dropped behind dbt's back is rebuilt; a daily partition older than the interval is rebuilt
        monkeypatch.setattr(dbt_domain, "DAILY_REFRESH_SECONDS", 0)
        conn.execute("DROP VIEW analytics.v_dispatch_summary")
        _land_purchase(conn, tenant, "marts-3")
        third = run_micro_batch(instance=instance, definitions=defs)
        dropped = keys.model_key("v_dispatch_summary")
        assert third["runs"][0]["success"] and _latest_run(instance, dropped) == third["runs"][0]["run_id"]
        assert _rebuilt(
            instance, dropped
        )  # by dbt, with the views of its step; the other steps' stay current
        assert conn.execute("SELECT to_regclass('analytics.v_dispatch_summary')").fetchone()[0] is not None
        assert (
            instance.get_latest_materialization_event(keys.ANALYTICS_METRICS_DAILY).run_id
            == third["runs"][0]["run_id"]
        )
        assert _dispatched_in_daily_table(conn, tenant) == 3


def _latest_run(instance: dg.DagsterInstance, key: dg.AssetKey) -> str:
    return instance.get_latest_materialization_event(key).run_id


def _downstream_of_daily(graph, models: list[dg.AssetKey]) -> set[dg.AssetKey]:
    daily = [k for k in models if graph.get(k).partitions_def is not None]
    below = dg.AssetSelection.assets(*daily).downstream().resolve(graph)
    return set(below) - set(daily)


def _dispatched_in_daily_table(conn, tenant: str) -> int:
    return conn.execute(
        "SELECT coalesce(sum(dispatched), 0) FROM analytics.analytics_metrics_daily WHERE tenant_id = %s",
        (tenant,),
    ).fetchone()[0]
