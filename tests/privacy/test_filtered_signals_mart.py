"""The filtered counts reach the marts: dbt builds analytics.fct_filtered_signals (with its data and unit
tests) as the dbt role, from what ingest and the micro-batch flagged (bot clicks, consent-denied clicks,
test purchases)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from dagster_project.lib import dbt_runner
from trackai import db

pytestmark = pytest.mark.integration


def test_mart_counts_what_was_filtered(pg_url, conn, make_tenant, tmp_path) -> None:
    tenant, _ = make_tenant()
    day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for i, (reason, denied) in enumerate(
        [(None, False), (None, False), ("known_bot", False), ("blocked_network", False), (None, True)]
    ):
        conn.execute(
            """INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, bot_reason, consent_denied)
               VALUES (%s, %s, %s, %s, %s)""",
            (tenant, f"s{i}", day, reason, denied),
        )
    for i, test_reason in enumerate([None, None, "gateway_test", "test_buyer"]):
        conn.execute(
            """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                           first_conversion_id, last_conversion_id, test_reason)
               VALUES (%s, 'kiwify', %s, %s, 'approved', %s, %s, 1, 1, %s)""",
            (tenant, f"o{i}", f"{i:064x}", day, day.date(), test_reason),
        )
    proc = dbt_runner.build(
        db.with_user(pg_url, "trackai_dbt"), select="fct_filtered_signals", target_path=tmp_path, capture=True
    )
    assert "Completed successfully" in proc.stdout, proc.stdout[-3000:]
    assert "filtered_signals_arithmetic" in proc.stdout
    # Read as the dashboards' role (a superuser is "member" of trackai_console, so the console policies of
    # sql/0602 hide the rows the view reads from it).
    with psycopg.connect(db.with_user(pg_url, "trackai_readonly_audit"), autocommit=True) as audit:
        row = audit.execute(
            """SELECT clicks, bot_clicks, bot_known, bot_blocked_network, consent_denied_clicks, approved_purchases,
                  test_purchases, test_gateway, test_buyer, bot_click_pct::text
             FROM analytics.fct_filtered_signals WHERE tenant_id = %s AND metric_date = %s""",
            (tenant, day.date()),
        ).fetchone()
    assert row == (5, 2, 1, 1, 1, 4, 2, 1, 1, "40.00")
