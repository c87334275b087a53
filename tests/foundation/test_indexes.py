"""The matcher's lookups and the dispatch dashboards are served by indexes (checked with EXPLAIN)."""

from __future__ import annotations

import re

import psycopg
import pytest

LOOKUPS = [
    (
        "SELECT * FROM landing.clicks WHERE tenant_id = %(t)s AND session_id = 's17'",
        "clicks_tenant_session_idx",
    ),
    (
        "SELECT * FROM landing.clicks WHERE tenant_id = %(t)s AND fbclid = 'fb18' "
        "AND occurred_at > now() - interval '7 days'",
        "clicks_tenant_fbclid_idx",
    ),
    (
        "SELECT * FROM landing.clicks WHERE tenant_id = %(t)s AND occurred_at BETWEEN now() - interval '30 minutes' "
        "AND now()",
        "clicks_tenant_time_idx",
    ),
    (
        "SELECT * FROM landing.identities WHERE tenant_id = %(t)s AND email_hash = md5('e5') || md5('x5')",
        "identities_tenant_email_idx",
    ),
    (
        "SELECT * FROM landing.identities WHERE tenant_id = %(t)s AND phone_hash = md5('p5') || md5('y5')",
        "identities_tenant_phone_idx",
    ),
    (
        "SELECT * FROM ops.dispatch_attempts WHERE tenant_id = %(t)s AND status = 'success' "
        "ORDER BY created_at DESC LIMIT 50",
        "dispatch_attempts_tenant_status_time_idx",
    ),
]


TENANTS = 20


@pytest.fixture(scope="module")
def seeded_tenant(pg_url: str) -> str:
    """20 tenants x 1,000 clicks/identities/attempts, analysed, so the planner sees realistic selectivity."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        ids = [
            conn.execute(
                "INSERT INTO core.tenants (name, pixel_id) VALUES (%s, '123456') RETURNING tenant_id::text",
                (f"t{i}",),
            ).fetchone()[0]
            for i in range(TENANTS)
        ]
        conn.execute(
            """
            INSERT INTO landing.clicks (tenant_id, session_id, fbclid, occurred_at)
            SELECT t, 's' || g, CASE WHEN g %% 2 = 0 THEN 'fb' || g END, now() - g * interval '1 minute'
              FROM unnest(%s::uuid[]) AS t, generate_series(1, 1000) AS g
            """,
            (ids,),
        )
        conn.execute(
            """
            INSERT INTO landing.identities (tenant_id, session_id, email_hash, phone_hash)
            SELECT t, 's' || g, md5('e' || g) || md5('x' || g), md5('p' || g) || md5('y' || g)
              FROM unnest(%s::uuid[]) AS t, generate_series(1, 1000) AS g
            """,
            (ids,),
        )
        conn.execute(
            """
            INSERT INTO ops.dispatch_attempts (tenant_id, event_id, gateway, pixel_id, attempt_no, status, created_at)
            SELECT t, md5(g::text) || md5(t::text), 'stripe', '1', 1,
                   (ARRAY['success', 'retryable_error', 'fatal_error'])[1 + g %% 3], now() - g * interval '1 minute'
              FROM unnest(%s::uuid[]) AS t, generate_series(1, 1000) AS g
            """,
            (ids,),
        )
        conn.execute("ANALYZE")
        return ids[0]


@pytest.mark.parametrize(("query", "index"), LOOKUPS, ids=[i for _, i in LOOKUPS])
def test_lookup_uses_index(conn: psycopg.Connection, seeded_tenant: str, query: str, index: str) -> None:
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, {"t": seeded_tenant}).fetchall())
    assert index in plan, plan
    # Daily partitions (sql/0700): an empty partition (a day ahead) costs nothing to scan, whatever the plan.
    scanned = re.findall(r"Seq Scan on (\w+)", plan)
    non_empty = [
        rel
        for rel in scanned
        if conn.execute("SELECT reltuples > 0 FROM pg_class WHERE relname = %s", (rel,)).fetchone()[0]
    ]
    assert non_empty == [], plan
