"""The saga as a Dagster job: one op per step, connected as trackai_pipeline (its grants suffice), started
by the request sensor for a console request, and again once the person approved."""

from __future__ import annotations

import dagster as dg
from helpers import print_step_table

from dagster_project.defs import provisioning as defs
from dagster_project.lib.resources import PostgresResource
from trackai import db
from trackai.provisioning import saga
from trackai.settings import reset_settings_cache
from trackai.setup import gates
from trackai_cli.provision_fakes.server import ProvisionFakes


def test_sensor_starts_the_job_which_waits_for_approval_then_publishes(
    pg_url: str, conn, tenant: str, fakes: ProvisionFakes, monkeypatch, make_tenant
) -> None:
    for name, value in fakes.environment().items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    postgres = PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))
    resources = {"postgres": postgres, "provisioning_apis": defs.ProvisioningApis()}
    try:
        # what the console does: a request row only (no steps, no tracking row yet)
        run_id = str(
            conn.execute(
                "INSERT INTO provisioning.runs (tenant_id, origin, requested_by) VALUES (%s, 'console', 'loja@x') RETURNING run_id",
                (tenant,),
            ).fetchone()[0]
        )
        with dg.instance_for_test() as instance:
            requests = defs.provisioning_request_sensor(
                dg.build_sensor_context(instance=instance, resources=resources)
            )
            mine = [r for r in requests if r.tags[defs.RUN_TAG] == run_id]
            assert len(mine) == 1
            result = defs.provisioning_job.execute_in_process(
                instance=instance, tags=mine[0].tags, resources=resources
            )
            assert result.success
            ops = [e.node_name for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
            assert ops == [
                f"provision_{s}"
                for s in (
                    "cloudflare_dns",
                    "stape_container",
                    "gtm_container",
                    "gtm_workspace",
                    "gtm_publish",
                )
            ]
            assert saga.run_row(conn, run_id)["state"] == "waiting"
            assert saga.run_row(conn, run_id)["dagster_run_id"] == result.run_id

            # blocked: nothing new, the sensor does not start it again
            again = defs.provisioning_request_sensor(
                dg.build_sensor_context(instance=instance, resources=resources)
            )
            assert not isinstance(again, list) or all(r.tags[defs.RUN_TAG] != run_id for r in again)

            gates.record_pass(conn, tenant, "test_capi_event", "f" * 64, "test", {})
            saga.record_approval(conn, tenant, run_id, approved_by="revisora@loja.example", user_id=None)
            requests = defs.provisioning_request_sensor(
                dg.build_sensor_context(instance=instance, resources=resources)
            )
            mine = [r for r in requests if r.tags[defs.RUN_TAG] == run_id]
            assert len(mine) == 1
            result = defs.provisioning_job.execute_in_process(
                instance=instance, tags=mine[0].tags, resources=resources
            )
            assert result.success
            # a run whose process died mid-step is resumed once it is stale, not before
            other, _ = make_tenant(name="Loja Parada")
            stale_run, _ = saga.request_run(conn, other, origin="cli", requested_by="test")
            conn.execute("UPDATE provisioning.runs SET state = 'running' WHERE run_id = %s", (stale_run,))
            assert stale_run not in {r["run_id"] for r in saga.runnable_runs(conn, stale_after_seconds=600)}
            conn.execute(
                "UPDATE provisioning.steps SET updated_at = now() - interval '20 minutes' WHERE run_id = %s",
                (stale_run,),
            )
            conn.execute(
                "UPDATE provisioning.runs SET updated_at = now() - interval '20 minutes' WHERE run_id = %s",
                (stale_run,),
            )
            assert stale_run in {r["run_id"] for r in saga.runnable_runs(conn, stale_after_seconds=600)}
        rows = print_step_table("Dagster job run", conn, run_id)
        assert [r["state"] for r in rows] == ["done"] * 5
        assert saga.run_row(conn, run_id)["state"] == "succeeded"
    finally:
        reset_settings_cache()


def test_a_failing_step_retries_then_compensates_and_fails_the_op(
    pg_url: str, conn, tenant: str, fakes: ProvisionFakes, monkeypatch
) -> None:
    for name, value in fakes.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRACKAI_PROVISION_MAX_RETRIES", "0")  # the op's RetryPolicy does the retrying
    reset_settings_cache()
    fakes.gtm.faults.add("POST", r"/containers$", 503, times=10)
    monkeypatch.setattr(
        defs, "MAX_RETRIES", 1
    )  # the op's 2nd attempt is its last (the policy allows 3 retries)
    postgres = PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))
    resources = {"postgres": postgres, "provisioning_apis": defs.ProvisioningApis()}
    try:
        run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test")
        with dg.instance_for_test() as instance:
            result = defs.provisioning_job.execute_in_process(
                instance=instance, tags={defs.RUN_TAG: run_id}, resources=resources, raise_on_error=False
            )
        assert not result.success
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert [e.node_name for e in retries] == ["provision_gtm_container"]
        rows = print_step_table("Dagster job, GTM 503 until the last retry", conn, run_id)
        assert [r["state"] for r in rows[:3]] == ["compensated"] * 3
        assert rows[2]["attempts"] == 2
        assert saga.run_row(conn, run_id)["state"] == "rolled_back"
    finally:
        fakes.gtm.faults.clear()
        reset_settings_cache()
