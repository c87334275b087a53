"""The micro-batch's writes: purchases, matches and the dedupe registry, changed rows only."""

from __future__ import annotations

import polars as pl
import psycopg

from trackai.pipeline import matching
from trackai.pipeline.frames import copy_rows
from trackai.pipeline.purchases import ATTRIBUTES, KEY

# core.purchases columns in COPY order: the fold's key and attributes (client_net is only for matching).
PURCHASE_WRITE_COLUMNS = [
    *KEY,
    "event_id",
    "status",
    "approved_at",
    "partition_date",
    *(c for c in ATTRIBUTES if c != "client_net"),
    "first_conversion_id",
    "last_conversion_id",
]
MATCH_WRITE_COLUMNS = [*matching.MATCH_COLUMNS, "partition_date"]


def write_purchases(conn: psycopg.Connection, folded: pl.DataFrame) -> None:
    conn.execute("CREATE TEMP TABLE tmp_purchases (LIKE core.purchases INCLUDING DEFAULTS) ON COMMIT DROP")
    copy_rows(conn, "tmp_purchases", PURCHASE_WRITE_COLUMNS, folded)
    upsert_changed(conn, "core.purchases", "tmp_purchases", PURCHASE_WRITE_COLUMNS, stamp="updated_at")


def write_matches(conn: psycopg.Connection, decisions: pl.DataFrame) -> None:
    """Replace the matches of every purchase in tmp_purchases (upsert changed rows, delete stale ones) and
    its abstention (``matching.decide``: rows with a null stage)."""
    matches = decisions.filter(pl.col("stage").is_not_null()) if "stage" in decisions.columns else decisions
    conn.execute("CREATE TEMP TABLE tmp_matches (LIKE core.matches INCLUDING DEFAULTS) ON COMMIT DROP")
    copy_rows(conn, "tmp_matches", MATCH_WRITE_COLUMNS, matches)
    conn.execute(
        """
        DELETE FROM core.matches m USING tmp_purchases t
        WHERE m.tenant_id = t.tenant_id AND m.gateway = t.gateway AND m.order_id = t.order_id
          AND NOT EXISTS (SELECT 1 FROM tmp_matches n WHERE n.tenant_id = m.tenant_id
                          AND n.gateway = m.gateway AND n.order_id = m.order_id)
        """
    )
    upsert_changed(conn, "core.matches", "tmp_matches", MATCH_WRITE_COLUMNS, stamp="matched_at")
    write_abstentions(conn, decisions)


def write_abstentions(conn: psycopg.Connection, decisions: pl.DataFrame) -> None:
    """core.purchases.abstain_reason/abstain_detail of every purchase in tmp_purchases: the probabilistic
    stage's reason for declining its candidates, or null (matched, or no candidate). Changed rows only."""
    abstained = (
        decisions.filter(pl.col("stage").is_null() & pl.col("abstain_reason").is_not_null())
        if "abstain_reason" in decisions.columns
        else decisions.clear()
    )
    conn.execute(
        "CREATE TEMP TABLE tmp_abstentions (tenant_id uuid, gateway text, order_id text, abstain_reason text,"
        " evidence jsonb) ON COMMIT DROP"
    )
    if not abstained.is_empty():
        copy_rows(conn, "tmp_abstentions", matching.ABSTENTION_COLUMNS, abstained)
    conn.execute(
        """
        UPDATE core.purchases p SET abstain_reason = a.abstain_reason, abstain_detail = a.evidence
          FROM tmp_purchases t
          LEFT JOIN tmp_abstentions a USING (tenant_id, gateway, order_id)
         WHERE p.tenant_id = t.tenant_id AND p.gateway = t.gateway AND p.order_id = t.order_id
           AND (p.abstain_reason, p.abstain_detail) IS DISTINCT FROM (a.abstain_reason, a.evidence)
        """
    )


def upsert_changed(
    conn: psycopg.Connection, table: str, staged: str, columns: list[str] | tuple[str, ...], *, stamp: str
) -> None:
    """Insert the staged rows keyed by (tenant_id, gateway, order_id); update only rows whose values
    changed, so a recompute of an unchanged day writes nothing and keeps ``stamp``."""
    updatable = [c for c in columns if c not in ("tenant_id", "gateway", "order_id")]
    cols = ", ".join(columns)
    conn.execute(
        f"""
        INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {staged}
        ON CONFLICT (tenant_id, gateway, order_id) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in updatable)}, {stamp} = now()
        WHERE ({", ".join(f"t.{c}" for c in updatable)})
              IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in updatable)})
        """
    )


def write_dedupe(conn: psycopg.Connection) -> int:
    """One registry row (event_id) per approved purchase of tmp_purchases that is not a test order;
    returns how many were new. A test order gets no event_id, so dispatch never queues it (issue 23)."""
    mark_test_purchases(conn)
    cur = conn.execute(
        """
        INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
        SELECT t.event_id, t.tenant_id, t.gateway, t.order_id, 'Purchase' FROM tmp_purchases t
        JOIN core.purchases p USING (tenant_id, gateway, order_id)
        WHERE t.approved_at IS NOT NULL AND p.test_reason IS NULL
        ON CONFLICT (event_id) DO NOTHING
        """
    )
    return cur.rowcount


# Issue 23: a purchase is a test order when one of its conversions was a gateway test delivery, the tenant
# marked the order (privacy.test_orders) or the buyer is one of the tenant's test buyers.
MARK_TESTS_SQL = """
UPDATE core.purchases p SET test_reason = x.reason
  FROM (
    SELECT t.tenant_id, t.gateway, t.order_id,
           CASE WHEN EXISTS (SELECT 1 FROM landing.conversions c WHERE c.tenant_id = t.tenant_id
                               AND c.gateway = t.gateway AND c.order_id = t.order_id AND c.is_test)
                     THEN 'gateway_test'
                WHEN EXISTS (SELECT 1 FROM privacy.test_orders o WHERE o.tenant_id = t.tenant_id
                               AND o.gateway = t.gateway AND o.order_id = t.order_id)
                     THEN 'tenant_marked'
                WHEN EXISTS (SELECT 1 FROM privacy.tenant_settings s WHERE s.tenant_id = t.tenant_id
                               AND (t.email_hash = ANY(s.test_email_hashes) OR t.phone_hash = ANY(s.test_phone_hashes)))
                     THEN 'test_buyer'
           END AS reason
      FROM tmp_purchases t
  ) x
 WHERE p.tenant_id = x.tenant_id AND p.gateway = x.gateway AND p.order_id = x.order_id
   AND p.test_reason IS DISTINCT FROM x.reason
"""


def mark_test_purchases(conn: psycopg.Connection) -> int:
    return conn.execute(MARK_TESTS_SQL).rowcount
