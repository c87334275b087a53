"""dbt build against the module's throwaway database, plus the pure helpers around it."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from dagster_project.lib import dbt_runner
from dagster_project.lib.dbt_vars import partition_vars, vars_arg
from tests.support import rows as data
from trackai.core import emq


def test_partition_vars_is_a_half_open_day_window():
    assert partition_vars(date(2026, 3, 1), date(2026, 3, 2)) == {
        "min_date": "2026-03-01",
        "max_date": "2026-03-02",
    }
    assert partition_vars(datetime(2026, 3, 1, 0, 0), "2026-03-04T00:00:00+00:00")["max_date"] == "2026-03-04"
    with pytest.raises(ValueError):
        partition_vars("2026-03-02", "2026-03-02")
    assert vars_arg({}) == []
    assert vars_arg({"min_date": "2026-03-01"}) == ["--vars", '{"min_date": "2026-03-01"}']


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "dbname"),
    [
        ("postgresql://postgres:@/trackai?host=/tmp/pg%20dir", "/tmp/pg dir", "5432", "postgres", "trackai"),
        ("postgresql://u:p%40ss@db.example:6543/x", "db.example", "6543", "u", "x"),
        ("postgresql://postgres@/trackai?host=/run/pg&port=5433", "/run/pg", "5433", "postgres", "trackai"),
    ],
)
def test_dbt_env_handles_socket_and_tcp_urls(url, host, port, user, dbname):
    env = dbt_runner.dbt_env(url)
    assert (env["TRACKAI_DBT_HOST"], env["TRACKAI_DBT_PORT"]) == (host, port)
    assert (env["TRACKAI_DBT_USER"], env["TRACKAI_DBT_DBNAME"]) == (user, dbname)
    if "p%40ss" in url:
        assert env["TRACKAI_DBT_PASSWORD"] == "p@ss"


def test_estimated_emq_weights_follow_meta_priority():
    assert emq.estimated_emq({}) == 0
    assert emq.estimated_emq(data.FULL_USER_DATA) >= 8
    high = emq.estimated_emq({"em": ["h"]})
    medium = emq.estimated_emq({"ph": ["h"]})
    low = emq.estimated_emq({"client_ip_address": "1.2.3.4"})
    assert high > medium > low > 0
    assert emq.estimated_emq({"em": [], "fbc": ""}) == 0


@pytest.fixture(scope="module")
def built(pg_url, tmp_path_factory):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        from trackai import tenants

        t1 = tenants.create_tenant(
            conn, name="Alpha", pixel_id="1234567890", meta_token="tok-a", gateway_secrets={}
        )
        t2 = tenants.create_tenant(
            conn, name="Beta", pixel_id="1234567891", meta_token="tok-b", gateway_secrets={}
        )
        today = data.now().date()
        for i in range(4):
            cid = data.click(conn, t1)
            data.purchase(
                conn, t1, partition_date=today, stage="deterministic" if i < 3 else None, click_id=cid
            )
        data.purchase(conn, t1, partition_date=today, approved=False)
        data.purchase(conn, t2, partition_date=today - timedelta(days=1), stage="probabilistic")
        data.conversion(conn, t1)
        data.dispatched_event(conn, t1, attempts=[("retryable_error", 300), ("success", 100)])
        data.dispatched_event(conn, t1, user_data={"em": [data.sha("a@b.co")]})
        data.dispatched_event(
            conn, t2, user_data={"client_ip_address": "1.2.3.4"}, attempts=[("success", 80)]
        )
        data.dlq(conn, t2, 2)
    proc = dbt_runner.build(pg_url, target_path=tmp_path_factory.mktemp("dbt_target"), capture=True)
    return {"t1": t1, "t2": t2, "log": proc.stdout}


def test_dbt_build_passes_with_unit_tests(built):
    log = built["log"]
    assert "Completed successfully" in log, log[-3000:]
    assert "unit_test" in log or "match_rate_arithmetic" in log


def test_models_land_in_analytics_with_grants(built, conn):
    rows = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE ANY(%s)"
        " AND table_schema NOT IN ('information_schema', 'pg_catalog')",
        (["stg_%", "v_%", "fct_%", "dim_%", "analytics_%"],),
    ).fetchall()
    assert {r[0] for r in rows} == {"analytics"}
    assert {"v_dispatch_summary", "v_match_rate_by_tenant", "analytics_metrics_daily"} <= {r[1] for r in rows}
    granted = conn.execute(
        "SELECT has_table_privilege('trackai_readonly_audit', 'analytics.v_match_rate_by_tenant', 'SELECT')"
    ).fetchone()[0]
    assert granted


def test_mart_numbers(built, conn):
    t1, t2 = built["t1"], built["t2"]
    row = conn.execute(
        "SELECT purchases, matched, matched_deterministic, match_rate_pct FROM analytics.v_match_rate_by_tenant"
        " WHERE tenant_id = %s",
        (t1,),
    ).fetchone()
    assert row == (4, 3, 3, 75)
    summary = dict(
        conn.execute(
            "SELECT attempt_status, success_rate_pct::float FROM analytics.v_dispatch_summary WHERE tenant_id = %s",
            (t1,),
        ).fetchall()
    )
    assert summary == {"success": pytest.approx(66.67), "retryable_error": pytest.approx(66.67)}
    daily = conn.execute(
        "SELECT clicks, purchases, matched, dispatched, failed_attempts, dlq_events, match_rate_pct"
        " FROM analytics.analytics_metrics_daily WHERE tenant_id = %s AND metric_date = current_date",
        (t1,),
    ).fetchone()
    assert daily == (4, 4, 3, 2, 1, 0, 75)
    dlq = conn.execute(
        "SELECT sum(dlq_events) FROM analytics.analytics_metrics_daily WHERE tenant_id = %s", (t2,)
    ).fetchone()[0]
    assert dlq == 2


def test_sql_emq_matches_python_estimate(built, conn):
    rows = conn.execute(
        "SELECT q.payload -> 'user_data', f.estimated_emq FROM analytics.fct_dispatched_events f"
        " JOIN ops.dispatch_queue q USING (event_id)"
    ).fetchall()
    assert len(rows) == 3
    for user_data, score in rows:
        assert float(score) == pytest.approx(emq.estimated_emq(user_data))


def test_incremental_run_with_partition_vars(built, pg_url, conn, tmp_path):
    t1 = built["t1"]
    data.click(conn, t1)
    today = data.now().date()
    window = partition_vars(today, today + timedelta(days=1))
    dbt_runner.build(
        pg_url, select="analytics_metrics_daily", variables=window, target_path=tmp_path, capture=True
    )
    clicks = conn.execute(
        "SELECT clicks FROM analytics.analytics_metrics_daily WHERE tenant_id = %s AND metric_date = %s",
        (t1, today),
    ).fetchone()[0]
    assert clicks == 5


def test_cli_registers_dbt_commands():
    from trackai_cli.cli import build_parser

    args = build_parser().parse_args(
        [
            "dbt",
            "build",
            "--select",
            "analytics_metrics_daily",
            "--min-date",
            "2026-03-01",
            "--max-date",
            "2026-03-02",
        ]
    )
    assert args.select == "analytics_metrics_daily" and args.handler.__name__ == "_build"
    assert build_parser().parse_args(["dbt", "prepare"]).handler.__name__ == "_prepare"


def test_dagster_materializes_the_daily_partition_with_vars_and_checks(built, pg_url, conn):
    import dagster as dg

    from dagster_project.defs import dbt as dbt_defs
    from dagster_project.lib.dbt_resource import dbt_resource
    from dagster_project.lib.keys import ANALYTICS_METRICS_DAILY

    if not dbt_runner.MANIFEST_PATH.exists():
        dbt_runner.prepare()
    defs = dbt_defs.build_defs()
    daily = next(
        a for a in defs.assets if getattr(a, "op", None) is not None and a.op.name == "trackai_dbt_daily"
    )
    today = data.now().date().isoformat()
    environ = dict(os.environ)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [daily],
            partition_key=today,
            instance=instance,
            resources={"dbt": dbt_resource(dbt_defs.dbt_project(), database_url=pg_url)},
        )
    assert result.success
    assert dict(os.environ) == environ  # the connection went to the dbt process only
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert ANALYTICS_METRICS_DAILY in materialized and materialized == set(daily.keys)
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    assert any(c.check_name.startswith("unique_combination") for c in checks)
    computed = conn.execute(
        "SELECT count(*) FROM analytics.analytics_metrics_daily WHERE metric_date = %s AND computed_at > now() - interval '5 minutes'",
        (today,),
    ).fetchone()[0]
    assert computed >= 2  # one row per tenant for the partition's day


def test_automation_refreshes_latest_day_every_five_minutes_and_yesterday_after_midnight():
    import dagster as dg

    from dagster_project.defs import dbt as dbt_defs

    if not dbt_runner.MANIFEST_PATH.exists():
        dbt_runner.prepare()
    defs = dg.Definitions.merge(
        dbt_defs.build_defs(), dg.Definitions(resources={"postgres": dg.ResourceDefinition.none_resource()})
    )
    key = dg.AssetKey(["analytics", "analytics_metrics_daily"])
    t0 = datetime(2026, 11, 23, 12, 1, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:

        def tick(at, cursor):
            return dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=cursor, evaluation_time=at
            )

        r = tick(t0, None)
        r = tick(t0 + timedelta(minutes=5), r.cursor)  # 12:05 tick passed -> today's partition
        assert r.get_requested_partitions(key) == {"2026-11-23"}
        r = tick(t0 + timedelta(minutes=6), r.cursor)  # no new tick
        assert r.total_requested == 0
        r = tick(datetime(2026, 11, 24, 0, 31, tzinfo=UTC), r.cursor)  # 00:30: today + yesterday once more
        assert r.get_requested_partitions(key) == {"2026-11-23", "2026-11-24"}
