"""Landing tables (external) and the micro-batch assets core/purchases -> core/matches -> core/dedupe_registry.

The three core assets are produced by ONE multi-asset step so that folding, matching, dedupe and the
watermark commit in a single Postgres transaction (``trackai.pipeline.batch.run_batch``); the UI still
shows them as three assets in one lineage graph: landing/* -> purchases -> matches -> dedupe_registry.
"""

import dagster as dg

from dagster_project.defs.partitions import daily_partitions
from dagster_project.lib.resources import PostgresResource

PIPELINE_GROUP = "pipeline"
CONVERSIONS = dg.AssetKey(["landing", "conversions"])
WEBHOOK_EVENTS = dg.AssetKey(["landing", "webhook_events"])
CLICKS = dg.AssetKey(["landing", "clicks"])
IDENTITIES = dg.AssetKey(["landing", "identities"])
PURCHASES = dg.AssetKey(["core", "purchases"])
MATCHES = dg.AssetKey(["core", "matches"])
DEDUPE_REGISTRY = dg.AssetKey(["core", "dedupe_registry"])

# Run tags written by the sensor and ``trackai pipeline run``; without them a run recomputes its window.
TAG_MODE = "trackai/mode"
TAG_WATERMARK_TO = "trackai/watermark_to"
CONCURRENCY_TAG = "trackai/concurrency_group"

landing_specs = [
    dg.AssetSpec(
        CLICKS,
        group_name="landing",
        kinds={"postgres"},
        description="Landing-page clicks/pageviews/leads (session id, fbclid, fbc built at click time, IP, UA).",
    ),
    dg.AssetSpec(
        IDENTITIES,
        group_name="landing",
        kinds={"postgres"},
        description="Hashed email/phone seen for a session (lead forms, clicks carrying them).",
    ),
    dg.AssetSpec(
        WEBHOOK_EVENTS,
        group_name="landing",
        kinds={"postgres"},
        description="Every verified gateway delivery, once (redacted payload).",
    ),
    dg.AssetSpec(
        CONVERSIONS,
        deps=[WEBHOOK_EVENTS],
        group_name="landing",
        kinds={"postgres"},
        description="Normalised purchases and status changes, one row per delivery mapping to an order.",
    ),
]


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
            description="Current state of each (tenant, gateway, order) folded from landing.conversions.",
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
    if tags.get(TAG_MODE) == "incremental" and tags.get(TAG_WATERMARK_TO):
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
