"""Notification sensor -> local receiver; Definitions load with lineage and checks; checks run in Dagster."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import dagster as dg
import pytest

from dagster_project.defs.quality import build_defs as quality_defs
from dagster_project.defs.quality.notify import AlertNotifier
from dagster_project.defs.quality.sensors import alarm_notifier
from dagster_project.lib import keys
from dagster_project.lib.dbt_runner import MANIFEST_PATH
from tests.support import rows as data


@pytest.fixture
def hook(http_receiver) -> str:
    """The alert webhook URL on the shared loopback receiver (tests/support/receiver.py)."""
    return f"{http_receiver.url}/hook"


def _failures(instance: dg.DagsterInstance) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(["ops", "dlq"]),
            check_name="dlq_depth",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "runbook": dg.MetadataValue.url("https://runbooks.example/dlq.md"),
                "value": dg.MetadataValue.text("101"),
                "summary": dg.MetadataValue.text("dlq_depth: 101"),
            },
        )
    )
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=dg.AssetKey(["ops", "dlq"]), check_name="dlq_depth", passed=True)
    )

    @dg.op
    def explode():
        raise RuntimeError("boom")

    @dg.job
    def doomed():
        explode()

    doomed.execute_in_process(instance=instance, raise_on_error=False)


def test_sensor_posts_slack_json_for_failed_check_and_run(hook, http_receiver):
    url = hook
    with dg.DagsterInstance.ephemeral() as instance:  # non-run-sharded event log, like Postgres storage
        _failures(instance)
        ctx = dg.build_sensor_context(
            instance=instance, resources={"alert_notifier": AlertNotifier(webhook_url=url)}
        )
        alarm_notifier(ctx)
        bodies = http_receiver.json_bodies("/hook")
        assert len(bodies) == 2  # the passing evaluation is not posted
        check, run = bodies
        assert check["text"].startswith(":red_circle: [ERROR] dlq_depth failed on ops/dlq")
        assert "https://runbooks.example/dlq.md" in check["text"]
        assert check["blocks"][0]["type"] == "section"
        assert run["trackai"]["kind"] == "run_failure" and "doomed" in run["text"]
        assert run["trackai"]["runbook"].endswith("failed-runs.md")
        # cursor: nothing is re-sent on the next tick
        ctx2 = dg.build_sensor_context(
            instance=instance, cursor=ctx.cursor, resources={"alert_notifier": AlertNotifier(webhook_url=url)}
        )
        alarm_notifier(ctx2)
        assert len(http_receiver.json_bodies("/hook")) == 2


def test_sensor_leaves_self_notifying_checks_to_themselves(hook, http_receiver):
    from dagster_project.lib.keys import SELF_NOTIFYING

    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey(["privacy", "requests"]),
                check_name="privacy_request_deadlines",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={SELF_NOTIFYING: dg.MetadataValue.bool(True), "value": dg.MetadataValue.int(1)},
            )
        )
        ctx = dg.build_sensor_context(
            instance=instance, resources={"alert_notifier": AlertNotifier(webhook_url=hook)}
        )
        alarm_notifier(ctx)
    assert http_receiver.json_bodies("/hook") == []


def test_sensor_posts_pagerduty_events_v2(hook, http_receiver):
    url = hook
    with dg.DagsterInstance.ephemeral() as instance:  # non-run-sharded event log, like Postgres storage
        _failures(instance)
        notifier = AlertNotifier(webhook_url=url, format="pagerduty", pagerduty_routing_key="R0UTING")
        alarm_notifier(dg.build_sensor_context(instance=instance, resources={"alert_notifier": notifier}))
    bodies = http_receiver.json_bodies("/hook")
    check = bodies[0]
    assert check["routing_key"] == "R0UTING" and check["event_action"] == "trigger"
    assert check["dedup_key"] == "trackai/ops/dlq/dlq_depth"
    assert check["payload"]["severity"] == "critical" and check["payload"]["source"]
    assert check["links"] == [{"href": "https://runbooks.example/dlq.md", "text": "Runbook"}]
    assert bodies[1]["payload"]["severity"] == "error"


def test_alarm_checks_run_as_dagster_asset_checks(pg_url, conn, make_tenant):
    from dagster_project.lib.resources import PostgresResource

    tid, _ = make_tenant()
    data.dlq(conn, tid, 7)
    defs = dg.Definitions.merge(
        quality_defs(), dg.Definitions(resources={"postgres": PostgresResource(url=pg_url)})
    )
    job = defs.resolve_job_def("quality_alarms_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) >= {"dlq_depth", "circuit_breaker_open", "db_connections", "estimated_emq_low"}
    dlq = evaluations["dlq_depth"]
    assert not dlq.passed and dlq.severity == dg.AssetCheckSeverity.WARN
    # numbers, so the UI plots each check's value over time
    assert isinstance(dlq.metadata["value"], dg.IntMetadataValue) and dlq.metadata["value"].value == 7
    assert isinstance(evaluations["db_connections"].metadata["value"], dg.FloatMetadataValue)
    # the default runbook base URL is this checkout's docs/runbooks: the link opens an existing file
    link = urlsplit(dlq.metadata["runbook"].value)
    assert link.scheme == "file" and link.path.endswith("docs/runbooks/dlq.md")
    assert Path(unquote(link.path)).is_file()
    assert evaluations["circuit_breaker_open"].passed


def test_full_definitions_load_with_lineage_and_checks():
    if not MANIFEST_PATH.exists():
        from dagster_project.lib import dbt_runner

        dbt_runner.prepare()
    from dagster_project.defs.dbt import build_defs as dbt_defs
    from dagster_project.lib.resources import PostgresResource

    defs = dg.Definitions.merge(
        dbt_defs(), quality_defs(), dg.Definitions(resources={"postgres": PostgresResource()})
    )
    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey(["analytics", "analytics_metrics_daily"]))
    assert daily.partitions_def is not None and daily.automation_condition is not None
    # one graph: landing/core/ops sources are the parents of the staging models
    stg = graph.get(dg.AssetKey(["analytics", "stg_ops__dispatch_attempts"]))
    assert dg.AssetKey(["ops", "dispatch_attempts"]) in stg.parent_keys
    assert (
        dg.AssetKey(["core", "matches"])
        in graph.get(dg.AssetKey(["analytics", "stg_core__matches"])).parent_keys
    )
    check_names = {k.name for k in graph.asset_check_keys}
    assert {"dlq_depth", "meta_token_expiring", "clicks_contract"} <= check_names
    assert any(n.startswith("not_null") or n.startswith("unique") for n in check_names)  # dbt tests
    sensors = {s.name for s in defs.get_repository_def().sensor_defs}
    assert {keys.DBT_AUTOMATION_SENSOR, keys.ALARM_NOTIFIER_SENSOR} <= sensors
    defs.resolve_all_job_defs()


def test_dbt_defs_skip_cleanly_without_manifest(monkeypatch, tmp_path):
    import dagster_project.defs.dbt as dbt_mod

    monkeypatch.setattr(dbt_mod, "MANIFEST_PATH", tmp_path / "missing.json")
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)

    class _P:
        manifest_path = tmp_path / "missing.json"

    monkeypatch.setattr(dbt_mod, "dbt_project", lambda: _P())
    assert len(list(dbt_mod.build_defs().assets or [])) == 0


def test_alarm_schedules_skip_while_their_previous_run_is_in_flight():
    from dagster_project.definitions import build_all_defs

    schedule = build_all_defs().resolve_schedule_def("quality_alarms_every_minute")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance)
        assert schedule.evaluate_tick(context).run_requests  # nothing in flight: the tick runs
        instance.add_run(
            dg.DagsterRun(job_name="quality_alarms_job", run_id="a" * 36, status=dg.DagsterRunStatus.STARTED)
        )
        skipped = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert not skipped.run_requests


def test_every_alarm_links_a_runbook_of_this_checkout_and_the_base_url_is_configurable(setenv):
    from dagster_project.defs.quality.alarms import ALARMS, runbook_url

    pages = [spec.runbook for spec in ALARMS] + ["data-contracts.md", "failed-runs.md", "README.md"]
    for page in pages:
        link = urlsplit(runbook_url(page))
        assert link.scheme == "file" and Path(unquote(link.path)).is_file(), page
    setenv("TRACKAI_RUNBOOK_BASE_URL", "https://runbooks.example/trackai")
    assert runbook_url("dlq.md") == "https://runbooks.example/trackai/dlq.md"


def test_alert_notifier_takes_its_environment_unresolved_and_sends_where_it_points(
    hook, http_receiver, setenv
):
    url = hook
    setenv("TRACKAI_ALERT_WEBHOOK_URL", url)
    setenv("TRACKAI_ALERT_FORMAT", "pagerduty")
    notifier = quality_defs().resources["alert_notifier"]
    assert isinstance(notifier.webhook_url, dg.EnvVar)  # the UI shows the name, not the secret URL
    assert notifier.webhook_url.env_var_name == "TRACKAI_ALERT_WEBHOOK_URL"
    assert notifier.pagerduty_routing_key == ""  # unset: Settings' value when an alert is sent
    setenv("TRACKAI_PAGERDUTY_ROUTING_KEY", "R0UTING")
    with dg.DagsterInstance.ephemeral() as instance:
        _failures(instance)
        alarm_notifier(dg.build_sensor_context(instance=instance, resources={"alert_notifier": notifier}))
    bodies = http_receiver.json_bodies("/hook")
    assert bodies and all(body["routing_key"] == "R0UTING" for body in bodies)


def test_alarm_thresholds_have_one_field_list_the_resource_only_overrides(setenv):
    from pydantic import ValidationError

    from dagster_project.defs.quality.config import AlarmThresholds, AlarmThresholdsResource
    from trackai.settings import AlarmSettings

    assert AlarmThresholds is AlarmSettings
    setenv("TRACKAI_ALARM_DLQ_WARN", "10")
    setenv("TRACKAI_ALARM_EMQ_MIN", "5.5")
    t = AlarmThresholdsResource(overrides={"backlog_max_pending": 7}).thresholds()
    assert (t.dlq_warn, t.emq_min, t.backlog_max_pending, t.dlq_critical) == (10, 5.5, 7, 100)
    with pytest.raises(ValueError, match="unknown alarm threshold"):
        AlarmThresholdsResource(overrides={"dlq_warm": 1}).thresholds()
    with pytest.raises(ValidationError):
        AlarmThresholdsResource(overrides={"dlq_warn": "many"}).thresholds()
