"""The ops exporter (trackai.ops_metrics): counters, histogram and gauges read from Postgres as the
least-privilege role trackai_metrics (sql/0801, 0802), exactly what Prometheus will scrape."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trackai import db
from trackai.ops_metrics import OpsCollector, metrics_database_url
from trackai.settings import SettingsError, get_settings

pytestmark = pytest.mark.integration


def _event_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _samples(collector: OpsCollector) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _attempt(
    conn, tenant_id: str, status: str, *, batch: uuid.UUID | None, latency_ms: int | None, age_s: float
):
    conn.execute(
        """INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, batch_id, attempt_no, status,
                                              latency_ms, created_at)
           VALUES (%s, %s, 'hotmart', '1234567890', %s, 1, %s, %s, now() - make_interval(secs => %s))""",
        (tenant_id, _event_id(str(uuid.uuid4())), batch, status, latency_ms, age_s),
    )


def _purchase(conn, tenant_id: str, order_id: str, *, matched: bool, queue_status: str | None) -> None:
    event_id = _event_id(order_id)
    conn.execute(
        """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                       first_conversion_id, last_conversion_id)
           VALUES (%s, 'hotmart', %s, %s, 'approved', now() - interval '1 hour', current_date, 1, 1)""",
        (tenant_id, order_id, event_id),
    )
    if matched:
        conn.execute(
            """INSERT INTO core.matches (tenant_id, gateway, order_id, click_id, stage, score, matched_keys,
                                         partition_date)
               VALUES (%s, 'hotmart', %s, 1, 'deterministic', 1, '{session_id}', current_date)""",
            (tenant_id, order_id),
        )
    if queue_status:
        conn.execute(
            """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
               VALUES (%s, %s, 'hotmart', %s, 'Purchase')""",
            (event_id, tenant_id, order_id),
        )
        conn.execute(
            """INSERT INTO ops.dispatch_queue (event_id, tenant_id, gateway, pixel_id, event_time, payload, status,
                                               deadline_at, created_at)
               VALUES (%s, %s, 'hotmart', '1234567890', now(), '{}', %s, now() + interval '7 days',
                       now() - interval '90 seconds')""",
            (event_id, tenant_id, queue_status),
        )


def test_exporter_counts_what_dispatch_recorded_as_trackai_metrics(conn, pg_url, make_tenant):
    tenant_id, _ = make_tenant()
    _purchase(conn, tenant_id, "ord-1", matched=True, queue_status="pending")
    _purchase(conn, tenant_id, "ord-2", matched=True, queue_status="sent")
    _purchase(conn, tenant_id, "ord-3", matched=False, queue_status="pending")
    conn.execute(
        """INSERT INTO ops.dlq (event_id, tenant_id, gateway, reason, payload)
           VALUES (%s, %s, 'hotmart', 'meta_rejected', '{}')""",
        (_event_id("dead"), tenant_id),
    )
    conn.execute(
        """INSERT INTO ops.circuit_breakers (tenant_id, pixel_id, state, opened_at)
           VALUES (%s, '1234567890', 'open', now()), (%s, '9999999999', 'closed', NULL)""",
        (tenant_id, tenant_id),
    )
    _attempt(
        conn, tenant_id, "success", batch=uuid.uuid4(), latency_ms=80, age_s=60
    )  # before start: not counted

    collector = OpsCollector(db.with_user(pg_url, "trackai_metrics"), settle_seconds=5)
    try:
        first = _samples(collector)
        assert first[("trackai_ops_exporter_up", ())] == 1
        assert first[("trackai_capi_attempts_total", (("status", "success"),))] == 0
        assert first[("trackai_dispatch_pending_events", ())] == 2
        assert first[("trackai_dispatch_oldest_pending_seconds", ())] >= 89
        assert first[("trackai_dlq_open_events", ())] == 1
        assert first[("trackai_capi_breakers", (("state", "open"),))] == 1
        assert first[("trackai_capi_breakers", (("state", "closed"),))] == 1
        assert first[("trackai_capi_breakers", (("state", "half_open"),))] == 0
        assert first[("trackai_purchases_24h", ())] == 3
        assert first[("trackai_matched_purchases_24h", ())] == 2
        assert first[("trackai_db_connections", ())] >= 1
        assert first[("trackai_db_max_connections", ())] >= first[("trackai_db_connections", ())]

        failing = uuid.uuid4()
        for _ in range(3):  # one request (batch) of three events, failed
            _attempt(conn, tenant_id, "retryable_error", batch=failing, latency_ms=1500, age_s=10)
        _attempt(conn, tenant_id, "success", batch=uuid.uuid4(), latency_ms=120, age_s=10)
        _attempt(
            conn, tenant_id, "fatal_error", batch=uuid.uuid4(), latency_ms=40, age_s=0
        )  # not settled yet
        second = _samples(collector)
        assert second[("trackai_capi_attempts_total", (("status", "retryable_error"),))] == 3
        assert second[("trackai_capi_attempts_total", (("status", "success"),))] == 1
        assert second[("trackai_capi_attempts_total", (("status", "fatal_error"),))] == 0
        assert second[("trackai_capi_request_seconds_count", ())] == 2  # two requests, not four events
        assert second[("trackai_capi_request_seconds_bucket", (("le", "0.25"),))] == 1
        assert second[("trackai_capi_request_seconds_bucket", (("le", "1.5"),))] == 2
        assert second[("trackai_capi_request_seconds_sum", ())] == pytest.approx(1.62)

        collector.settle_seconds = 0  # the young row is now old enough: counted once, never twice
        third = _samples(collector)
        fourth = _samples(collector)
        assert third[("trackai_capi_attempts_total", (("status", "fatal_error"),))] == 1
        assert fourth[("trackai_capi_attempts_total", (("status", "fatal_error"),))] == 1
        assert fourth[("trackai_capi_attempts_total", (("status", "retryable_error"),))] == 3
    finally:
        collector.close()


def test_the_metrics_role_reads_no_payload_or_secret(conn):
    import psycopg

    for query in (
        "SELECT payload FROM ops.dispatch_queue",
        "SELECT error_message FROM ops.dispatch_attempts",
        "SELECT secret_ciphertext FROM core.tenant_secrets",
        "SELECT email_hash FROM core.purchases",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET LOCAL ROLE trackai_metrics")
            conn.execute(query)


def test_an_unreachable_database_is_up_0_not_a_failed_scrape():
    collector = OpsCollector("postgresql://nobody@127.0.0.1:1/none")
    samples = _samples(collector)
    assert samples[("trackai_ops_exporter_up", ())] == 0
    assert ("trackai_dispatch_pending_events", ()) not in samples


def test_production_requires_the_metrics_url(setenv):
    setenv("TRACKAI_ENV", "production")
    setenv("TRACKAI_DATABASE_URL", "postgresql://trackai_migration_admin@db/trackai")
    with pytest.raises(SettingsError, match="TRACKAI_METRICS_DATABASE_URL"):
        metrics_database_url(get_settings())
    setenv("TRACKAI_METRICS_DATABASE_URL", "postgresql://trackai_metrics@db/trackai")
    assert metrics_database_url(get_settings()) == "postgresql://trackai_metrics@db/trackai"
