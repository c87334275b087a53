"""Provisioning (issue 17, docs/provisioning.md): the saga as a Dagster job, one op per step.

``provisioning_job`` runs ``trackai.provisioning.saga`` for the saga run named by the run tag
``trackai/provision_run_id``: cloudflare_dns → stape_container → gtm_container → gtm_workspace →
gtm_publish. Each op retries with exponential backoff (429/5xx/timeouts); on its last attempt a failure
compensates the run (deletes what was created, in reverse) and the op fails. A blocked publish (test
event not passed, diff not approved) ends the Dagster run successfully with the saga run ``waiting``.

``provisioning_request_sensor`` starts the job for runs requested from the console or with
``trackai provision --request``, and again for a waiting run once the tenant passed the gate or a person
approved the diff. No assets: the saga writes only its own state (provisioning.*).
"""

from __future__ import annotations

import dagster as dg

from dagster_project.lib.resources import PostgresResource

JOB = "provisioning_job"
SENSOR = "provisioning_request_sensor"
RUN_TAG = "trackai/provision_run_id"
MAX_RETRIES = 3
RETRY = dg.RetryPolicy(
    max_retries=MAX_RETRIES, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

STEP_DESCRIPTIONS = {
    "cloudflare_dns": "Cloudflare: the CNAME {slug}.track.<CF_BASE_DOMAIN> → the Stape host, proxied=false "
    "(found by name before any create).",
    "stape_container": "Stape: the server container trackai-<slug> with the tenant's domain, polled until "
    "active; not active by the deadline → the run rolls back.",
    "gtm_container": "GTM: the web container trackai-<slug> in the configured account.",
    "gtm_workspace": "GTM: variables (pixel id, server URL, domain), triggers and the Pixel + server-side + "
    "CAPI Purchase tags from the shipped template; records the workspace diff for review.",
    "gtm_publish": "GTM: version + publish, only after the test CAPI event passed and a person approved "
    "exactly this diff in the console; otherwise the run waits.",
}


class ProvisioningApis(dg.ConfigurableResource):
    """Cloudflare, Stape and GTM clients built from Settings (TRACKAI_PROVISION_*, credentials through the
    secrets backend)."""

    def clients(self):
        from trackai.provisioning import saga

        return saga.build_clients()


def _step_op(step: str, first: bool) -> dg.OpDefinition:
    @dg.op(
        name=f"provision_{step}",
        description=STEP_DESCRIPTIONS[step],
        ins={} if first else {"after": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        retry_policy=RETRY,
        tags={"trackai/domain": "provisioning", "trackai/step": step},
    )
    def _op(context, postgres: PostgresResource, provisioning_apis: ProvisioningApis):
        from trackai.provisioning import saga

        run_id = context.run.tags.get(RUN_TAG)
        if not run_id:
            raise dg.Failure(
                description=f"the run has no {RUN_TAG} tag (start it from the console or the sensor)"
            )
        with postgres.connect() as conn:
            if first:
                saga.attach_dagster_run(conn, run_id, context.run_id)
            clients = provisioning_apis.clients()
            try:
                state = saga.execute_step(
                    conn, clients, run_id, step, final_attempt=context.retry_number >= MAX_RETRIES
                )
            finally:
                clients.close()
            table = saga.step_table(conn, run_id)
        row = next(r for r in table if r["step"] == step)
        context.log.info(f"{step}: {state} (attempt {row['attempts']}) {row['external_ids']}")
        if state == "failed":
            raise dg.Failure(
                description=f"{step} failed and the run was rolled back: {row['error'] or ''}",
                metadata={"steps": dg.MetadataValue.json(table)},
                allow_retries=False,
            )

    return _op


@dg.job(
    name=JOB,
    description="Provision one tenant: Cloudflare CNAME, Stape server container, GTM web container (publish "
    "gated on the test event and a person's approval). Resumable; tag trackai/provision_run_id names the run.",
    tags={"trackai/domain": "provisioning"},
)
def provisioning_job():
    from trackai.core.provisioning_plan import STEPS

    previous = None
    for index, step in enumerate(STEPS):
        op = _step_op(step, index == 0)
        previous = op() if previous is None else op(after=previous)


def _sensor_status() -> dg.DefaultSensorStatus:
    from trackai.settings import get_settings

    stopped = get_settings().pipeline.sensor_default == "stopped"
    return dg.DefaultSensorStatus.STOPPED if stopped else dg.DefaultSensorStatus.RUNNING


@dg.sensor(
    name=SENSOR,
    job=provisioning_job,
    minimum_interval_seconds=30,
    default_status=_sensor_status(),
    description="Starts provisioning_job for runs requested in the console or with `trackai provision "
    "--request`, for waiting runs once the gate passed or the diff was approved, and resumes stale runs.",
)
def provisioning_request_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    from trackai.provisioning import saga
    from trackai.settings import get_settings

    # a run untouched for longer than the Stape deadline plus 5 minutes lost its process: resume it
    stale = get_settings().provision.stape_deadline_seconds + 300
    with postgres.connect() as conn:
        runnable = saga.runnable_runs(conn, stale_after_seconds=stale)
    if not runnable:
        return dg.SkipReason("no provisioning run requested or unblocked")
    return [
        dg.RunRequest(run_key=r["run_key"], tags={RUN_TAG: r["run_id"], "trackai/tenant_id": r["tenant_id"]})
        for r in runnable
    ]


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[provisioning_job],
        sensors=[provisioning_request_sensor],
        resources={"provisioning_apis": ProvisioningApis()},
    )
