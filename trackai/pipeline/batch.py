"""One micro-batch in one Postgres transaction: fold purchases, match (3 stages), dedupe, watermark.

This module is the orchestration only: the reads and staged matching are ``candidates``, the fold
``purchases``, the pure stages ``matching``, the writes ``writes``, the watermark ``watermarks``, the
frame plumbing ``frames``, the knobs ``params``.

Modes:
- ``incremental`` (sensor / ``trackai pipeline run``): the orders with landed conversions in
  (stored watermark, ``upto``]; the watermark ``conversions`` in ops.pipeline_watermarks advances to
  ``upto`` in the same transaction as the results.
- ``recompute`` (backfills, manual materialisations of a partition): every order with a conversion
  whose event_time falls in the partition window, or whose purchase belongs to a partition in it. The
  watermark is left alone. Upserts that only write changed rows make a second run a no-op.

Overlap safety: the transaction starts with ``pg_advisory_xact_lock(LOCK_KEY)``, so two runs (sensor
+ CLI, or two queued runs that slipped through) serialise; the second one re-reads the watermark after
the lock and finds nothing left to do. Primary keys of core.matches / core.dedupe_registry back it up.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

import psycopg

from trackai.pipeline import matching, writes
from trackai.pipeline.candidates import (
    ORDERS_IN_WINDOW_SQL,
    ORDERS_INCREMENTAL_SQL,
    PURCHASE_KEY,
    conversions_for,
    match_batch,
)
from trackai.pipeline.params import MatchParams
from trackai.pipeline.purchases import approved, fold_conversions
from trackai.pipeline.watermarks import (
    WATERMARK_NAME,
    advance_watermark,
    latest_conversion_id,
    stored_watermark,
    touched_partition_dates,
)

LOCK_KEY = 7_420_100  # pg advisory lock of the micro-batch writer
# Entry points callers import from here (Dagster, the CLI, bench, tests).
__all__ = [
    "LOCK_KEY",
    "WATERMARK_NAME",
    "BatchSummary",
    "MatchParams",
    "latest_conversion_id",
    "match_batch",
    "run_batch",
    "stored_watermark",
    "touched_partition_dates",
]


@dataclass
class BatchSummary:
    mode: str
    skipped: bool = False
    reason: str | None = None
    watermark_from: int | None = None
    watermark_to: int | None = None
    orders_folded: int = 0
    purchases_processed: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    dedupe_inserted: int = 0
    partitions: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Selection:
    """Which orders a run folds: SQL + parameters, and the conversion id bound (incremental only)."""

    orders_sql: str
    params: tuple
    upto: int | None = None


def _timed(timings: dict, name: str, t0: float) -> None:
    timings[name] = round((time.perf_counter() - t0) * 1000, 1)


def _select(
    conn: psycopg.Connection,
    summary: BatchSummary,
    upto: int | None,
    window: tuple[datetime, datetime] | None,
) -> Selection | None:
    """The orders of this run; None when an incremental run has nothing past the watermark."""
    if summary.mode == "incremental":
        after = stored_watermark(conn)
        upto = latest_conversion_id(conn) if upto is None else upto
        summary.watermark_from, summary.watermark_to = after, upto
        if upto <= after:
            summary.skipped, summary.reason = True, f"already processed up to conversion {after}"
            return None
        return Selection(ORDERS_INCREMENTAL_SQL, (after, upto), upto)
    if window is None:
        raise ValueError("recompute mode needs a time window")
    start, end = window
    return Selection(ORDERS_IN_WINDOW_SQL, (start, end, start.date(), end.date()))


def run_batch(
    url: str,
    *,
    mode: str,
    upto: int | None = None,
    window: tuple[datetime, datetime] | None = None,
    settings: MatchParams | None = None,
) -> BatchSummary:
    """Run one micro-batch (see module docstring). ``upto`` bounds incremental mode (default: latest)."""
    if mode not in ("incremental", "recompute"):
        raise ValueError(f"unknown mode {mode!r}")
    settings = settings or MatchParams.from_settings()
    summary = BatchSummary(mode=mode)
    timings = summary.timings_ms
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        # Safe: results and watermark commit atomically, so a commit lost in a crash is simply redone, and
        # dispatch's later (synchronous) commit flushes this one's WAL before anything is sent.
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        selection = _select(conn, summary, upto, window)
        if selection is None:
            return summary
        t0 = time.perf_counter()
        conversions = conversions_for(conn, selection.orders_sql, selection.params, selection.upto)
        _timed(timings, "fetch_conversions", t0)
        if conversions.is_empty():
            if selection.upto is not None:
                advance_watermark(conn, selection.upto)
            summary.reason = "no orders to process"
            return summary
        folded = fold_conversions(conversions)
        _timed(timings, "fold", t0)
        buyers = approved(folded)
        summary.orders_folded, summary.purchases_processed = folded.height, buyers.height
        matches = match_batch(conn, buyers, settings, timings).join(
            buyers.select(*PURCHASE_KEY, "partition_date"), on=PURCHASE_KEY, how="left"
        )
        counts = matching.stage_counts(matches, buyers.height)
        summary.unmatched = counts.pop("unmatched")
        summary.matched = counts
        summary.partitions = sorted({d.isoformat() for d in folded["partition_date"].to_list()})
        t0 = time.perf_counter()
        writes.write_purchases(conn, folded)
        _timed(timings, "write_purchases", t0)
        t1 = time.perf_counter()
        writes.write_matches(conn, matches)
        _timed(timings, "write_matches", t1)
        summary.dedupe_inserted = writes.write_dedupe(conn)
        if selection.upto is not None:
            advance_watermark(conn, selection.upto)
        _timed(timings, "write", t0)
    _timed(timings, "total", started)
    return summary
