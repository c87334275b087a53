"""A backfill of a day older than the hot window reads its landing rows back from the archive (DuckDB
over the local S3) and produces the matches it produced when the day was hot, sending nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support.rows import land_plan
from trackai import tenants
from trackai.lifecycle import archive, backfill, partitions
from trackai.pipeline.batch import run_batch
from trackai_cli.demo_traffic import plan_traffic

pytestmark = pytest.mark.integration
DAY = (datetime.now(UTC) - timedelta(days=60)).date()  # the day, then 60 days ago: far past the window
START = datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(hours=10)
MATCH_COLUMNS = (
    "tenant_id, gateway, order_id, click_id, stage, score, matched_keys, fbc, fbp, client_ip, user_agent"
)


def _matches(conn) -> list[tuple]:
    return conn.execute(
        f"SELECT {MATCH_COLUMNS} FROM core.matches ORDER BY tenant_id, gateway, order_id"
    ).fetchall()


def _registry(conn) -> list[tuple]:
    return conn.execute("SELECT event_id, first_seen_at FROM core.dedupe_registry ORDER BY 1").fetchall()


@pytest.fixture(scope="module")
def landed_day(pg_url, s3):
    """Demo traffic of one tenant landed on DAY (clicks, leads, purchases through the gateway adapters)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(
            conn, name="Archived Seller", pixel_id="1234567890", meta_token="tok", gateway_secrets={}
        )
        plan = plan_traffic(tenant, visitors=300, purchases=60, now=START, seed=19, bad_signatures=0)
        bought_at = land_plan(conn, tenant, plan, start=START)
        # landed that day: the conversions' landing time is their partition key
        conn.execute("UPDATE landing.conversions SET created_at = %s", (bought_at,))
        partitions.ensure_ahead(conn, 7)
    return tenant


def test_archived_day_backfill_gives_identical_matches_and_resends_nothing(pg_url, conn, landed_day) -> None:
    window = (
        datetime.combine(DAY, datetime.min.time(), UTC),
        datetime.combine(DAY, datetime.min.time(), UTC) + timedelta(days=1),
    )
    hot = run_batch(pg_url, mode="recompute", window=window)
    assert hot.purchases_processed > 0 and sum(hot.matched.values()) > 0
    hot_matches, registry = _matches(conn), _registry(conn)
    assert {m[4] for m in hot_matches} >= {"deterministic", "probabilistic"}

    report = archive.retain(pg_url, today=DAY + timedelta(days=31))
    assert not report.failed and {d.parent for d in report.days if d.dropped} >= {
        "landing.clicks",
        "landing.identities",
        "landing.conversions",
    }
    assert (
        conn.execute("SELECT count(*) FROM landing.clicks WHERE occurred_at < %s", (window[1],)).fetchone()[0]
        == 0
    )

    conn.execute("DELETE FROM core.matches")  # what the backfill must rebuild from the archive alone
    result = backfill.backfill_archived_day(pg_url, DAY)
    assert result.batch["purchases_processed"] == hot.purchases_processed
    assert _matches(conn) == hot_matches
    assert _registry(conn) == registry  # no new event_id: nothing is queued or sent again
    assert conn.execute("SELECT count(*) FROM ops.dispatch_queue").fetchone()[0] == 0
    # the rehydrated days are gone again (still archived and verified)
    assert sorted(result.dropped_again) == sorted(result.rehydrated)
    assert (
        conn.execute("SELECT count(*) FROM landing.clicks WHERE occurred_at < %s", (window[1],)).fetchone()[0]
        == 0
    )
