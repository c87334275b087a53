"""The micro-batch assets core/purchases -> core/matches -> core/dedupe_registry (group "pipeline").

The three are produced by ONE multi-asset step so that folding, matching, dedupe and the watermark
(ops.pipeline_watermarks, the sensor's durable cursor: state, not data, so not an asset) commit in a
single Postgres transaction (``trackai.pipeline.batch.run_batch``); the UI still shows three assets:
landing/* -> purchases -> matches -> dedupe_registry. The landing tables are external assets
(``dagster_project.defs.sources``).

Whatever launches the step (the sensor's run, ``trackai pipeline run``, a job backfill or a UI asset
backfill, which runs as ``__ASSET_JOB``), it holds a slot of the pool ``trackai_micro_batch`` (one slot,
dagster_home/dagster.yaml), and a backfill is one run per day (``BackfillPolicy.multi_run(1)``), like
``trackai pipeline run --partition D``.
"""

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.lib.keys import (
    CLICKS,
    CONVERSIONS,
    DEDUPE_REGISTRY,
    IDENTITIES,
    MATCHES,
    MICRO_BATCH_POOL,
    MODE_INCREMENTAL,
    PIPELINE_GROUP,
    PURCHASES,
    TAG_MODE,
    TAG_WATERMARK_TO,
    WEBHOOK_EVENTS,
)
from dagster_project.lib.resources import PostgresResource


class MicroBatchConfig(dg.Config):
    """Matching knobs (defaults: TRACKAI_MATCH_THRESHOLD / TRACKAI_MATCH_WINDOW_HOURS / _LOOKBACK_DAYS)."""

    threshold: float | None = None
    probabilistic_window_hours: float | None = None
    deterministic_lookback_days: float | None = None


@dg.multi_asset(
    name="micro_batch",
    specs=[
        dg.AssetSpec(
            PURCHASES,
            deps=[CONVERSIONS, WEBHOOK_EVENTS],
            group_name=PIPELINE_GROUP,
            kinds={"postgres", "polars"},
            description="Current state of each (tenant, gateway, order), folded from landing.conversions"
            " (partition: UTC day of the first approval).",
        ),
        dg.AssetSpec(
            MATCHES,
            deps=[PURCHASES, CLICKS, IDENTITIES],
            group_name=PIPELINE_GROUP,
            kinds={"postgres", "polars"},
            description="Best click per approved purchase: deterministic > semi_deterministic > probabilistic.",
        ),
        dg.AssetSpec(
            DEDUPE_REGISTRY,
            deps=[PURCHASES, MATCHES],
            group_name=PIPELINE_GROUP,
            kinds={"postgres"},
            description="event_id of every approved purchase, unique forever (dispatch reads it).",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    pool=MICRO_BATCH_POOL,
    can_subset=False,
)
def micro_batch(context: dg.AssetExecutionContext, config: MicroBatchConfig, postgres: PostgresResource):
    from dataclasses import replace

    from trackai.pipeline.batch import MatchParams, run_batch

    settings = MatchParams.from_settings()
    overrides = {k: v for k, v in config.model_dump().items() if v is not None}
    settings = replace(settings, **overrides) if overrides else settings
    tags = context.run.tags
    url = postgres.resolved_url()
    if tags.get(TAG_MODE) == MODE_INCREMENTAL and tags.get(TAG_WATERMARK_TO):
        summary = run_batch(url, mode="incremental", upto=int(tags[TAG_WATERMARK_TO]), settings=settings)
    else:
        window = context.partition_time_window
        summary = run_batch(url, mode="recompute", window=(window.start, window.end), settings=settings)
    data = summary.as_dict()
    context.log.info(f"micro-batch summary: {data}")
    common = {
        "mode": summary.mode,
        "skipped": summary.skipped,
        "watermark_to": summary.watermark_to if summary.watermark_to is not None else -1,
    }
    yield dg.MaterializeResult(
        asset_key=PURCHASES,
        metadata={
            **common,
            "orders_folded": summary.orders_folded,
            "purchases_processed": summary.purchases_processed,
        },
    )
    yield dg.MaterializeResult(
        asset_key=MATCHES,
        metadata={
            **common,
            **{f"matched_{stage}": n for stage, n in summary.matched.items()},
            "unmatched": summary.unmatched,
            "summary": dg.MetadataValue.json(data),
        },
    )
    yield dg.MaterializeResult(
        asset_key=DEDUPE_REGISTRY, metadata={**common, "dedupe_inserted": summary.dedupe_inserted}
    )
