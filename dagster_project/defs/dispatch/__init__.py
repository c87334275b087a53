"""Dispatch step (group "pipeline", runs in micro_batch_job after dedupe) and the DLQ replay job.

One multi-asset step, ``dispatch``, because one ``run_dispatch`` writes five tables: it enqueues new
approved events (ops/dispatch_queue), sends due ones to Meta and records every request
(ops/dispatch_attempts), dead-letters what Meta refused or what expired (ops/dlq), opens/closes each
pixel's breaker (ops/circuit_breakers) and flags a revoked token (ops/meta_token_status). Each output's
metadata carries its part of the run summary, so the dbt marts over these tables sit downstream of it.

The step is **unpartitioned with deps** on the core assets: it drains a queue, not a day. Each run sends
every *due* event whatever its purchase day (retries of yesterday's throttled events, events approved
just before midnight, replays), bounded by Meta's 7-day window; a daily partition would either miss those
or re-send a day on backfill. It shares the micro-batch's pool, so two dispatch steps never overlap
whatever launched them (the engine's advisory lock backs that up). Graph API endpoint and timeout: the
``meta_capi`` resource.
"""

import dagster as dg

from dagster_project.lib.keys import (
    CIRCUIT_BREAKERS,
    DEDUPE_REGISTRY,
    DISPATCH_ATTEMPTS,
    DISPATCH_DUE_JOB,
    DISPATCH_DUE_SENSOR,
    DISPATCH_QUEUE,
    DLQ,
    DLQ_REPLAY_JOB,
    MATCHES,
    META_TOKEN_STATUS,
    MICRO_BATCH_POOL,
    PIPELINE_GROUP,
    PURCHASE_VERIFICATIONS,
    PURCHASES,
    TENANT_SECRETS,
    TENANTS,
)
from dagster_project.lib.resources import MetaCapiResource, PostgresResource, meta_capi_resource
from trackai.settings import get_settings


def _spec(key: dg.AssetKey, deps: list[dg.AssetKey], description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, deps=deps, group_name=PIPELINE_GROUP, kinds={"python", "postgres"}, description=description
    )


SPECS = [
    _spec(
        DISPATCH_QUEUE,
        [DEDUPE_REGISTRY, PURCHASES, MATCHES, TENANTS, PURCHASE_VERIFICATIONS],  # verified before queued
        "One row per event to send to Meta: the payload (Meta's event shape, enriched from the match),"
        " status pending/sent/blocked/dlq, attempts, next attempt and the 7-day deadline.",
    ),
    _spec(
        DISPATCH_ATTEMPTS,
        [DISPATCH_QUEUE, TENANT_SECRETS],
        "One row per CAPI request attempt for an event: outcome, HTTP status, Meta's error code, latency.",
    ),
    _spec(
        DLQ,
        [DISPATCH_QUEUE, DISPATCH_ATTEMPTS],
        "Events Meta refused, that stayed invalid, or that reached their deadline; replayable with"
        " dlq_replay_job (same event_id).",
    ),
    _spec(
        CIRCUIT_BREAKERS,
        [DISPATCH_ATTEMPTS],
        "Per (tenant, pixel) breaker: opens after consecutive failures, probes after the cooldown.",
    ),
    _spec(
        META_TOKEN_STATUS,
        [DISPATCH_ATTEMPTS, TENANT_SECRETS],
        "Per tenant Meta token state: 'invalid' when Meta answers code 190 (dispatch stops the tenant);"
        " the meta_token_expiring alarm may refresh it through debug_token.",
    ),
]

# Which fields of the run summary describe which table.
SUMMARY_FIELDS: dict[dg.AssetKey, tuple[str, ...]] = {
    DISPATCH_QUEUE: (
        "enqueued",
        "unblocked",
        "claimed",
        "dropped_fields",
        "sent",
        "retry_later",
        "not_attempted",
    ),
    DISPATCH_ATTEMPTS: ("requests", "batches", "probes", "duration_s"),
    DLQ: ("invalid", "rejected", "expired"),
    CIRCUIT_BREAKERS: ("skipped_breaker_open",),
    META_TOKEN_STATUS: ("blocked",),
}


def output_metadata(summary: dict) -> dict[dg.AssetKey, dict]:
    """Per output, its fields of ``run_dispatch``'s summary (numbers, so the UI plots them)."""
    out: dict[dg.AssetKey, dict] = {}
    for key, fields in SUMMARY_FIELDS.items():
        meta: dict = {name: summary.get(name, 0) for name in fields}
        if summary.get("skipped"):
            meta["skipped"] = str(summary["skipped"])
        out[key] = meta
    breakers = summary.get("breakers") or {}
    out[CIRCUIT_BREAKERS]["breakers_not_closed"] = len(breakers)  # the engine lists open and half-open ones
    if breakers:
        out[CIRCUIT_BREAKERS]["breakers"] = dg.MetadataValue.json(breakers)
    return out


@dg.multi_asset(name="dispatch", specs=SPECS, pool=MICRO_BATCH_POOL, can_subset=False)
def dispatch(context: dg.AssetExecutionContext, postgres: PostgresResource, meta_capi: MetaCapiResource):
    from trackai.dispatch import run_dispatch

    with postgres.connect() as conn:
        summary = run_dispatch(conn, meta_capi.settings())
    context.log.info("dispatch summary: %s", summary)
    for key, metadata in output_metadata(summary).items():
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


class DlqReplayConfig(dg.Config):
    tenant_id: str | None = None
    event_ids: list[str] = []
    since: str | None = None  # ISO timestamp; only events dead-lettered since
    send_now: bool = True


@dg.op(pool=MICRO_BATCH_POOL)
def replay_dlq(
    context: dg.OpExecutionContext,
    config: DlqReplayConfig,
    postgres: PostgresResource,
    meta_capi: MetaCapiResource,
) -> dict:
    from datetime import UTC, datetime

    from trackai.dispatch import replay, run_dispatch

    since = None
    if config.since:
        since = datetime.fromisoformat(config.since)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    with postgres.connect() as conn:
        result = replay(conn, tenant_id=config.tenant_id, event_ids=config.event_ids or None, since=since)
        if config.send_now:
            result["dispatch"] = run_dispatch(conn, meta_capi.settings(), tenant_id=config.tenant_id)
    context.log.info("dlq replay: %s", {k: v for k, v in result.items() if k != "event_ids"})
    return result


@dg.job(
    name=DLQ_REPLAY_JOB,
    description="Re-queue DLQ events (same event_id) and send them; config: tenant_id, event_ids, since.",
)
def dlq_replay_job() -> None:
    replay_dlq()


dispatch_due_job = dg.define_asset_job(
    DISPATCH_DUE_JOB,
    selection=dg.AssetSelection.assets(dispatch).without_checks(),
    executor_def=dg.in_process_executor,
    tags={"dagster/priority": "10"},
    description="Only the dispatch step: sends queued events that are due (retries after backoff, DLQ"
    " replays from the console or the CLI) when no new traffic launches a micro-batch.",
)

# Due now: pending (new, retried, replayed) and past its next attempt.
DUE_SQL = "SELECT count(*) FROM ops.dispatch_queue WHERE status = 'pending' AND next_attempt_at <= now()"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    name=DISPATCH_DUE_SENSOR,
    job=dispatch_due_job,
    minimum_interval_seconds=60,
    default_status=(
        dg.DefaultSensorStatus.STOPPED
        if get_settings().pipeline.sensor_default == "stopped"
        else dg.DefaultSensorStatus.RUNNING
    ),
    description="Requests a dispatch-only run when queued events are due and no such run is in flight,"
    " so a replay or a retry never waits for the next purchase to arrive.",
)
def dispatch_due_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    with postgres.connect() as conn:
        due = conn.execute(DUE_SQL).fetchone()[0]
    if not due:
        return dg.SkipReason("no queued event is due")
    runs = context.instance.get_runs_count(dg.RunsFilter(job_name=DISPATCH_DUE_JOB, statuses=_IN_FLIGHT))
    if runs:
        return dg.SkipReason(f"{due} due events; a dispatch run is already in flight")
    return dg.RunRequest(run_key=None, tags={"trackai/due_events": str(due)})


def build_defs() -> dg.Definitions:
    """Merged by dagster_project/definitions.py; needs the "postgres" resource from there."""
    return dg.Definitions(
        assets=[dispatch],
        jobs=[dlq_replay_job, dispatch_due_job],
        sensors=[dispatch_due_sensor],
        resources={"meta_capi": meta_capi_resource()},
    )
