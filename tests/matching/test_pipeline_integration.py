"""Rows landed as ingest lands them -> micro_batch_job -> expected stage per purchase (real Postgres)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.defs.pipeline.assets import DEDUPE_REGISTRY, MATCHES, PURCHASES
from dagster_project.runner import pipeline_only_definitions
from dagster_project.runner import run_micro_batch as _run
from tests.support.rows import fbc_for, land_click, land_conversion
from trackai.core.event_id import event_id
from trackai.pipeline import batch

pytestmark = pytest.mark.integration

UA_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
T = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
DAY = T.date().isoformat()


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def tenant(pg_url):
    import psycopg

    from trackai import tenants

    with psycopg.connect(pg_url, autocommit=True) as c:
        return tenants.create_tenant(
            c,
            name="Pipeline Seller",
            pixel_id="1234567890",
            meta_token="tok-pipeline",
            gateway_secrets={"kiwify": "k-1"},
        )


def run_micro_batch(partitions=None, **kwargs):
    """The real job, limited to the core assets (dispatch is another helper's and is tested there)."""
    kwargs.setdefault("definitions", pipeline_only_definitions())
    return _run(partitions, asset_selection=[PURCHASES, MATCHES, DEDUPE_REGISTRY], **kwargs)


def _matches(conn) -> dict[str, tuple]:
    rows = conn.execute(
        "SELECT order_id, stage, score::float8, matched_keys, click_id, fbc FROM core.matches ORDER BY order_id"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def _snapshot(conn) -> list:
    out = []
    for table in ("core.purchases", "core.matches", "core.dedupe_registry"):
        out.append(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall())
    return out


def test_landed_rows_are_matched_at_the_right_stage(conn, tenant, instance):
    det_click = land_click(
        conn, tenant, session_id="sess-A", occurred_at=T - timedelta(hours=2), fbclid="IwAR_det"
    )
    land_conversion(
        conn, tenant, order_id="o-det", event_time=T, session_id="sess-A", tracking={"src": "sess-A"}
    )

    email_click = land_click(
        conn, tenant, session_id="sess-B", occurred_at=T - timedelta(days=3), email="Buyer@X.com"
    )
    land_conversion(conn, tenant, order_id="o-email", event_time=T, email="buyer@x.com")

    semi_at = T - timedelta(days=6, hours=23)
    semi_click = land_click(
        conn, tenant, session_id="sess-C", occurred_at=semi_at, fbclid="IwAR_Semi_CaseKept"
    )
    land_conversion(conn, tenant, order_id="o-fbclid", event_time=T, fbclid="IwAR_Semi_CaseKept")

    prob_click = land_click(
        conn,
        tenant,
        session_id="sess-D",
        occurred_at=T - timedelta(minutes=30),
        client_ip="203.0.113.7",
        user_agent=UA_ANDROID,
    )
    land_click(  # same /24, other device, older: scores lower
        conn,
        tenant,
        session_id="sess-D2",
        occurred_at=T - timedelta(hours=20),
        client_ip="203.0.113.99",
        user_agent=UA_IPHONE,
    )
    land_conversion(
        conn, tenant, order_id="o-prob", event_time=T, client_ip="203.0.113.7", user_agent=UA_ANDROID
    )

    land_conversion(conn, tenant, order_id="o-none", event_time=T, client_ip="198.51.100.1")
    land_click(conn, tenant, session_id="sess-F", occurred_at=T + timedelta(hours=1))
    land_conversion(conn, tenant, order_id="o-after", event_time=T, tracking={"sck": "sess-F"})
    land_conversion(
        conn, tenant, order_id="o-pending", event_time=T, status="pending", tracking={"src": "sess-A"}
    )

    summary = run_micro_batch(instance=instance)
    assert summary["purchases_processed"] == 6
    assert summary["matched"] == {"deterministic": 1, "semi_deterministic": 2, "probabilistic": 1}
    assert summary["unmatched"] == 2
    assert summary["runs"][0]["partitions"] == DAY

    m = _matches(conn)
    assert m["o-det"][0] == "deterministic" and m["o-det"][3] == det_click and "session_id" in m["o-det"][2]
    assert m["o-email"][0] == "semi_deterministic" and m["o-email"][3] == email_click  # a lead: weaker
    assert m["o-email"][2] == ["email_hash"]
    assert m["o-fbclid"][0] == "semi_deterministic" and m["o-fbclid"][3] == semi_click
    assert m["o-fbclid"][4] == fbc_for("IwAR_Semi_CaseKept", semi_at)  # the click's fbc, verbatim
    assert m["o-prob"][0] == "probabilistic" and m["o-prob"][3] == prob_click and m["o-prob"][1] >= 0.6
    assert "o-none" not in m and "o-after" not in m and "o-pending" not in m

    registry = {r[0] for r in conn.execute("SELECT event_id FROM core.dedupe_registry")}
    assert event_id(tenant, "o-det", "Purchase") in registry
    assert event_id(tenant, "o-pending", "Purchase") not in registry
    assert len(registry) == 6
    assert batch.stored_watermark(conn) == batch.latest_conversion_id(conn)

    again = run_micro_batch(instance=instance)
    assert again["skipped"] is True


def test_status_update_keeps_event_id_and_match(conn, tenant, instance):
    before = _snapshot(conn)
    land_conversion(conn, tenant, order_id="o-det", event_time=T + timedelta(days=1), status="refunded")
    summary = run_micro_batch(instance=instance)
    assert summary["runs"][0]["partitions"] == DAY  # the order keeps its approval day
    assert summary["dedupe_inserted"] == 0
    row = conn.execute(
        "SELECT status, approved_at, event_id FROM core.purchases WHERE order_id = 'o-det'"
    ).fetchone()
    assert row[0] == "refunded" and row[1] == T and row[2] == event_id(tenant, "o-det")
    assert _snapshot(conn)[2] == before[2]  # registry untouched
    assert _matches(conn)["o-det"][0] == "deterministic"


def test_backfill_twice_gives_identical_rows(conn, instance):
    first = run_micro_batch([DAY], instance=instance)
    snap1 = _snapshot(conn)
    second = run_micro_batch([DAY], instance=instance)
    snap2 = _snapshot(conn)
    assert snap1 == snap2
    assert (
        first["matched"]
        == second["matched"]
        == {"deterministic": 1, "semi_deterministic": 2, "probabilistic": 1}
    )
    assert second["dedupe_inserted"] == 0


def test_overlapping_triggers_do_not_double_match(conn, pg_url, tenant):
    for i in range(20):
        land_click(conn, tenant, session_id=f"ov-{i}", occurred_at=T - timedelta(minutes=5))
        land_conversion(conn, tenant, order_id=f"ov-{i}", event_time=T, session_id=f"ov-{i}")
    upto = batch.latest_conversion_id(conn)
    results, errors = [], []

    def trigger():
        try:
            results.append(batch.run_batch(pg_url, mode="incremental", upto=upto))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=trigger) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    done = [r for r in results if not r.skipped]
    assert len(done) == 1 and done[0].matched["deterministic"] == 20
    assert sum(r.skipped for r in results) == 2
    n = conn.execute("SELECT count(*) FROM core.matches WHERE order_id LIKE 'ov-%'").fetchone()[0]
    assert n == 20


def test_batch_of_only_pending_orders(conn, pg_url, tenant):
    land_conversion(conn, tenant, order_id="only-pending", event_time=T, status="pending")
    summary = batch.run_batch(pg_url, mode="incremental")
    assert summary.orders_folded == 1 and summary.purchases_processed == 0 and summary.dedupe_inserted == 0
    assert batch.stored_watermark(conn) == batch.latest_conversion_id(conn)
