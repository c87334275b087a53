"""Prometheus metrics of the dispatch side, read from Postgres at each scrape (``trackai ops-exporter``).

Dispatch runs inside short Dagster runs, so there is no long-lived process to hold its counters; the
state it writes (ops.dispatch_attempts, ops.dispatch_queue, ops.dlq, ops.circuit_breakers, the pipeline
watermark) is the source of truth. One exporter per deployment reads it:

* CAPI attempts become real counters and a request-latency histogram: each scrape reads the attempts
  added since the last one (primary-key range, cheap) and adds them. Rows younger than
  ``SETTLE_SECONDS`` wait for the next scrape, because identity values can commit out of order
  (the micro-batch sensor's watermark does the same). Counts start at 0 when the exporter starts.
* Depths and states are gauges: backlog, DLQ, breakers, unprocessed conversions, 24 h match rate,
  database connections.

No tenant, pixel or event id is ever a label (the series count stays fixed). The exporter connects as
``trackai_metrics`` (sql/0801: column-level SELECT on what it counts, nothing else).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from trackai.pipeline.watermarks import WATERMARK_NAME
from trackai.settings import Settings, SettingsError, get_settings

SETTLE_SECONDS = 5.0
ATTEMPT_STATUSES = ("success", "retryable_error", "fatal_error", "invalid", "expired", "blocked")
BREAKER_STATES = ("closed", "open", "half_open")
QUEUE_STATUSES = ("pending",)
# CAPI request latency buckets (seconds); TRACKAI_CAPI_TIMEOUT_SECONDS defaults to 1.5 s.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
STATEMENT_TIMEOUT_MS = 5000

NEW_ATTEMPTS_SQL = """
SELECT coalesce(max(attempt_id), %(after)s), status, batch_id, latency_ms, count(*)
  FROM ops.dispatch_attempts
 WHERE attempt_id > %(after)s AND created_at <= now() - make_interval(secs => %(settle)s)
 GROUP BY GROUPING SETS ((status), (batch_id, latency_ms), ())
"""
GAUGES_SQL = """
SELECT
  (SELECT count(*) FROM ops.dispatch_queue WHERE status = 'pending'),
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)
     FROM ops.dispatch_queue WHERE status = 'pending'),
  (SELECT count(*) FROM ops.dlq WHERE replayed_at IS NULL),
  (SELECT count(*) FROM landing.conversions
    WHERE conversion_id > coalesce((SELECT value FROM ops.pipeline_watermarks WHERE name = %(wm)s), 0)),
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM landing.conversions
    WHERE conversion_id > coalesce((SELECT value FROM ops.pipeline_watermarks WHERE name = %(wm)s), 0)),
  (SELECT count(*) FROM pg_stat_activity),
  current_setting('max_connections')::int
"""
BREAKERS_SQL = "SELECT state, count(*) FROM ops.circuit_breakers GROUP BY state"
# Failed requests in a row of the worst (tenant, pixel): dispatch saves it while a failing batch still backs
# off, so an outage shows here seconds after it starts, before the breaker's threshold is reached.
FAILURE_STREAK_SQL = "SELECT coalesce(max(consecutive_failures), 0) FROM ops.circuit_breakers"
MATCH_RATE_SQL = """
SELECT count(*), count(m.order_id)
  FROM core.purchases p
  LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
 WHERE p.partition_date >= current_date - 1 AND p.approved_at > now() - interval '24 hours'
"""
FIRST_CURSOR_SQL = "SELECT coalesce(max(attempt_id), 0) FROM ops.dispatch_attempts"


@dataclass
class AttemptTotals:
    """What the exporter has counted since it started (monotonic, like any Prometheus counter)."""

    cursor: int | None = None
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ATTEMPT_STATUSES, 0))
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def add_requests(self, latencies_ms: list[int]) -> None:
        for latency in latencies_ms:
            seconds = latency / 1000.0
            self.latency_sum += seconds
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.bucket_counts[i] += 1
                    break
            else:
                self.bucket_counts[-1] += 1

    def cumulative_buckets(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self.bucket_counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class OpsCollector(Collector):
    """A prometheus_client collector that queries Postgres on every ``collect()``."""

    def __init__(self, url: str, *, settle_seconds: float = SETTLE_SECONDS) -> None:
        self.url = url
        self.settle_seconds = settle_seconds
        self.totals = AttemptTotals()
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=5,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                application_name="trackai-ops-exporter",
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _read_attempts(self, conn: psycopg.Connection) -> None:
        if self.totals.cursor is None:
            self.totals.cursor = int(conn.execute(FIRST_CURSOR_SQL).fetchone()[0])
        rows = conn.execute(
            NEW_ATTEMPTS_SQL, {"after": self.totals.cursor, "settle": self.settle_seconds}
        ).fetchall()
        latencies: list[int] = []
        newest = self.totals.cursor
        for top, status, batch_id, latency_ms, count in rows:
            newest = max(newest, int(top))
            if status is not None:
                self.totals.by_status[status] = self.totals.by_status.get(status, 0) + int(count)
            elif batch_id is not None and latency_ms is not None:
                latencies.append(int(latency_ms))  # one CAPI request per batch
        self.totals.add_requests(latencies)
        self.totals.cursor = newest

    def collect(self) -> Iterator:
        started = time.perf_counter()
        with self._lock:
            try:
                conn = self._connection()
                self._read_attempts(conn)
                gauges = conn.execute(GAUGES_SQL, {"wm": WATERMARK_NAME}).fetchone()
                breakers = dict(conn.execute(BREAKERS_SQL).fetchall())
                failure_streak = conn.execute(FAILURE_STREAK_SQL).fetchone()[0]
                purchases, matched = conn.execute(MATCH_RATE_SQL).fetchone()
                up = 1
            except psycopg.Error:
                self.close()
                self._conn = None
                up = 0
        yield _gauge("trackai_ops_exporter_up", "1 when the last scrape read Postgres, else 0", up)
        yield _gauge(
            "trackai_ops_exporter_scrape_seconds",
            "Time spent reading Postgres",
            time.perf_counter() - started,
        )
        attempts = CounterMetricFamily(
            "trackai_capi_attempts",
            "CAPI event attempts recorded by dispatch, by outcome (counted since the exporter started)",
            labels=["status"],
        )
        for status, count in sorted(self.totals.by_status.items()):
            attempts.add_metric([status], count)
        yield attempts
        yield HistogramMetricFamily(
            "trackai_capi_request_seconds",
            "Latency of CAPI requests (one per batch sent), since the exporter started",
            buckets=self.totals.cumulative_buckets(),
            sum_value=self.totals.latency_sum,
        )
        if not up:
            return
        pending, oldest_pending, dlq_open, backlog, oldest_backlog, connections, max_connections = gauges
        yield _gauge("trackai_dispatch_pending_events", "Events waiting in ops.dispatch_queue", pending)
        yield _gauge(
            "trackai_dispatch_oldest_pending_seconds", "Age of the oldest pending event", oldest_pending
        )
        yield _gauge("trackai_dlq_open_events", "Dead-lettered events not replayed", dlq_open)
        yield _gauge(
            "trackai_pipeline_backlog_conversions",
            "Landed conversions the micro-batch has not consumed yet (past the watermark)",
            backlog,
        )
        yield _gauge(
            "trackai_pipeline_backlog_oldest_seconds",
            "Age of the oldest unconsumed conversion",
            oldest_backlog,
        )
        breaker = GaugeMetricFamily(
            "trackai_capi_breakers", "Circuit breakers (tenant, pixel) by state", labels=["state"]
        )
        for state in BREAKER_STATES:
            breaker.add_metric([state], breakers.get(state, 0))
        yield breaker
        yield _gauge(
            "trackai_capi_consecutive_failures_max",
            "Most CAPI requests failed in a row for one (tenant, pixel), reset by a success",
            failure_streak,
        )
        yield _gauge("trackai_purchases_24h", "Approved purchases in the last 24 h", purchases)
        yield _gauge("trackai_matched_purchases_24h", "Of those, matched to a click", matched)
        yield _gauge("trackai_db_connections", "Connections on the Postgres server", connections)
        yield _gauge("trackai_db_max_connections", "Postgres max_connections", max_connections)


def metrics_database_url(settings: Settings | None = None) -> str:
    """TRACKAI_METRICS_DATABASE_URL (role trackai_metrics); in development the main URL when unset."""
    settings = settings or get_settings()
    if settings.metrics_database_url:
        return settings.metrics_database_url
    if settings.env == "production":
        raise SettingsError(
            "TRACKAI_METRICS_DATABASE_URL must be set when TRACKAI_ENV=production: the exporter connects "
            "as trackai_metrics"
        )
    from trackai import db

    return db.database_url(settings)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
