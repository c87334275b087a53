"""Dispatch asset (group "pipeline", runs in the micro-batch after dedupe) and the DLQ replay job.

The asset is **unpartitioned with deps** on ``core/dedupe_registry`` and ``core/matches``: it
drains a queue, not a day. Each run sends every *due* event whatever its purchase day (retries of
yesterday's throttled events, events approved just before midnight, replays), bounded by Meta's
7-day window; a daily partition would either miss those or re-send a day on backfill. Dagster
allows unpartitioned assets in a partitioned job, so it still joins ``micro_batch_job`` (it
materialises once per micro-batch, after its upstreams).
"""

import dagster as dg

from dagster_project.lib.resources import PostgresResource

DEDUPE = dg.AssetKey(["core", "dedupe_registry"])
MATCHES = dg.AssetKey(["core", "matches"])


@dg.asset(
    key=dg.AssetKey(["ops", "dispatch_attempts"]),
    group_name="pipeline",
    deps=[DEDUPE, MATCHES, dg.AssetKey(["core", "purchase_verifications"])],  # verified before queued
    description="Enqueue new approved events and send due ones to Meta CAPI (ops.dispatch_queue/attempts/dlq).",
    kinds={"python", "postgres"},
)
def dispatch_attempts(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    from trackai.dispatch import run_dispatch

    with postgres.connect() as conn:
        summary = run_dispatch(conn)
    context.log.info("dispatch summary: %s", summary)
    return dg.MaterializeResult(metadata=_metadata(summary))


def _metadata(summary: dict) -> dict:
    keys = (
        "enqueued",
        "claimed",
        "sent",
        "invalid",
        "rejected",
        "expired",
        "retry_later",
        "blocked",
        "skipped_breaker_open",
        "requests",
        "batches",
        "duration_s",
    )
    meta: dict = {k: summary.get(k, 0) for k in keys}
    if summary.get("skipped"):
        meta["skipped"] = summary["skipped"]
    if summary.get("breakers"):
        meta["open_breakers"] = dg.MetadataValue.json(summary["breakers"])
    return meta


class DlqReplayConfig(dg.Config):
    tenant_id: str | None = None
    event_ids: list[str] = []
    since: str | None = None  # ISO timestamp; only events dead-lettered since
    send_now: bool = True


@dg.op
def replay_dlq(context: dg.OpExecutionContext, config: DlqReplayConfig, postgres: PostgresResource) -> dict:
    from datetime import UTC, datetime

    from trackai.dispatch import replay, run_dispatch

    since = None
    if config.since:
        since = datetime.fromisoformat(config.since)
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    with postgres.connect() as conn:
        result = replay(conn, tenant_id=config.tenant_id, event_ids=config.event_ids or None, since=since)
        if config.send_now:
            result["dispatch"] = run_dispatch(conn, tenant_id=config.tenant_id)
    context.log.info("dlq replay: %s", {k: v for k, v in result.items() if k != "event_ids"})
    return result


@dg.job(description="Re-queue DLQ events (same event_id) and send them; config: tenant_id, event_ids, since.")
def dlq_replay_job() -> None:
    replay_dlq()


def build_defs() -> dg.Definitions:
    """Merged by dagster_project/definitions.py; needs the "postgres" resource from there."""
    return dg.Definitions(assets=[dispatch_attempts], jobs=[dlq_replay_job])
