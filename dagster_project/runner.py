"""Plan and run micro-batches through ``micro_batch_job`` (shared by the sensor and ``trackai pipeline run``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg

from dagster_project.lib.keys import (
    ANALYTICS_PREFIX,
    MATCHES,
    MICRO_BATCH_JOB,
    MODE_INCREMENTAL,
    MODE_RECOMPUTE,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TAG_MODE,
    TAG_WATERMARK_TO,
)


@dataclass(frozen=True)
class IncrementalPlan:
    after: int
    upto: int
    partitions: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    partition_key: str | None = None

    @property
    def run_key(self) -> str:
        return f"conversions:{self.upto}"


def clamp_partitions(days: list[str]) -> list[str]:
    """Map UTC days onto existing daily partition keys (before the start -> first, future -> last)."""
    from dagster_project.defs.partitions import daily_partitions

    first = daily_partitions.get_first_partition_key()
    last = daily_partitions.get_last_partition_key()
    out = set()
    for day in days:
        key = date.fromisoformat(day).isoformat()
        if first and key < first:
            key = first
        if last and key > last:
            key = last
        out.add(key)
    return sorted(out)


def partition_selection(partitions: list[str]) -> tuple[str | None, dict[str, str]]:
    """One key -> partition_key; several -> a range run via the asset-partition-range tags."""
    if not partitions:
        raise ValueError("no partitions")
    if len(partitions) == 1:
        return partitions[0], {}
    return None, {RANGE_START_TAG: partitions[0], RANGE_END_TAG: partitions[-1]}


def plan_incremental(conn: psycopg.Connection, settle_seconds: float = 0) -> IncrementalPlan | None:
    """None when nothing landed past the durable watermark, else the run to request.

    ``settle_seconds`` ignores rows younger than that (see ``batch.latest_conversion_id``)."""
    from trackai.pipeline.batch import latest_conversion_id, stored_watermark, touched_partition_dates

    after = stored_watermark(conn)
    upto = latest_conversion_id(conn, after=after, settle_seconds=settle_seconds)
    if upto <= after:
        return None
    partitions = clamp_partitions(touched_partition_dates(conn, after, upto))
    partition_key, range_tags = partition_selection(partitions)
    tags = {TAG_MODE: MODE_INCREMENTAL, TAG_WATERMARK_TO: str(upto), **range_tags}
    return IncrementalPlan(after, upto, partitions, tags, partition_key)


def dagster_storage_url(url: str) -> str:
    """The URL dagster-postgres should use: SQLAlchemy 2.1 maps plain ``postgresql://`` to psycopg 3, whose
    server-side parameters break dagster-postgres's ``NOTIFY run_events, %(id)s``; pin the psycopg2 driver.
    Unix-socket URLs (``postgresql://u:@/db?host=/dir``) keep their query string."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg2://{rest}"
    return url


def ensure_instance_env(environ: dict | None = None) -> dict:
    """DAGSTER_HOME (repo's dagster_home/) and TRACKAI_DAGSTER_DATABASE_URL for dagster.yaml (set when absent,
    driver pinned by ``dagster_storage_url``). Mutates and returns ``environ`` (default: os.environ)."""
    from trackai import db
    from trackai.settings import REPO_ROOT

    env = os.environ if environ is None else environ
    env.setdefault("DAGSTER_HOME", str(REPO_ROOT / "dagster_home"))
    url = env.get("TRACKAI_DAGSTER_DATABASE_URL") or db.dagster_database_url()
    env["TRACKAI_DAGSTER_DATABASE_URL"] = dagster_storage_url(url)
    return env


def load_definitions():
    from dagster_project.definitions import build_all_defs

    return build_all_defs()


def pipeline_only_definitions():
    """The micro-batch (and the external tables it reads) + the shared resources, without dispatch, dbt
    and quality (isolated tests, the bench)."""
    import dagster as dg

    from dagster_project.defs import pipeline, sources
    from dagster_project.lib.resources import PostgresResource

    return dg.Definitions.merge(
        sources.build_defs(),
        pipeline.build_defs(),
        dg.Definitions(resources={"postgres": PostgresResource()}),
    )


def _summarise(result, partition_label: str) -> dict[str, Any]:
    run: dict[str, Any] = {"run_id": result.run_id, "partitions": partition_label, "success": result.success}
    others: dict[str, Any] = {}
    models: list[str] = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key = mat.asset_key
        if key == MATCHES and "summary" in mat.metadata:
            run["summary"] = mat.metadata["summary"].value
        elif key.path[0] == ANALYTICS_PREFIX:
            models.append(key.path[-1])
        elif key.path[0] not in ("core",):
            others["/".join(key.path)] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    if others:
        run["other_assets"] = others
    if models:
        run["dbt_models"] = sorted(models)
    return run


def run_micro_batch(
    partitions: list[str] | None = None,
    *,
    instance=None,
    url: str | None = None,
    raise_on_error: bool = True,
    asset_selection: list | None = None,
    definitions=None,
) -> dict[str, Any]:
    """Run micro_batch_job synchronously; returns a JSON-able summary.

    Without ``partitions``: one incremental run for the rows past the watermark (the same run the sensor
    would request). With ``partitions``: one recompute run per given day (a backfill of those days).
    ``instance`` defaults to the real instance (DAGSTER_HOME/dagster.yaml, Postgres storage).
    ``asset_selection`` (asset keys) runs a subset of the job, e.g. only the core assets in tests;
    ``definitions`` replaces the full code location (tests pass ``pipeline_only_definitions()``).
    """
    import dagster as dg

    from trackai import db

    if instance is None:
        ensure_instance_env()
        instance = dg.DagsterInstance.get()
    url = url or db.database_url()
    job = (definitions or load_definitions()).resolve_job_def(MICRO_BATCH_JOB)
    runs = []
    if partitions:
        for day in clamp_partitions(partitions):
            result = job.execute_in_process(
                instance=instance,
                partition_key=day,
                tags={TAG_MODE: MODE_RECOMPUTE},
                raise_on_error=raise_on_error,
                asset_selection=asset_selection,
            )
            runs.append(_summarise(result, day))
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            plan = plan_incremental(conn)
        if plan is None:
            return {"skipped": True, "reason": "no new landed conversions", "runs": [], **_totals([])}
        label = plan.partition_key or f"{plan.partitions[0]}...{plan.partitions[-1]}"
        result = job.execute_in_process(
            instance=instance,
            partition_key=plan.partition_key,
            tags=plan.tags,
            raise_on_error=raise_on_error,
            asset_selection=asset_selection,
        )
        runs.append(_summarise(result, label))
    return {"skipped": False, "runs": runs, **_totals(runs)}


def _totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    matched = {"deterministic": 0, "semi_deterministic": 0, "probabilistic": 0}
    processed = unmatched = inserted = 0
    for run in runs:
        summary = run.get("summary") or {}
        processed += summary.get("purchases_processed", 0)
        unmatched += summary.get("unmatched", 0)
        inserted += summary.get("dedupe_inserted", 0)
        for stage, n in (summary.get("matched") or {}).items():
            matched[stage] = matched.get(stage, 0) + n
    return {
        "purchases_processed": processed,
        "matched": matched,
        "unmatched": unmatched,
        "dedupe_inserted": inserted,
    }
