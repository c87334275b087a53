"""Postgres side of verification: which purchases to (re)verify, the tenants' references, the results,
and the one condition dispatch's enqueue applies (``DISPATCHABLE_SQL``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

from trackai.verification.rules import SALES_API_KINDS, Reference, Verdict

# The gate (alias ``p`` = core.purchases): a purchase is queued for Meta only when its verification says
# so for exactly the values that will be sent. A later delivery that changes amount, currency or product
# of a verified order is therefore verified again before anything is queued.
DISPATCHABLE_SQL = """EXISTS (
    SELECT 1 FROM core.purchase_verifications v
     WHERE v.tenant_id = p.tenant_id AND v.gateway = p.gateway AND v.order_id = p.order_id
       AND v.dispatchable
       AND (v.amount, v.currency, v.product_id) IS NOT DISTINCT FROM (p.amount, p.currency, p.product_id))"""

# Approved, registered, not queued yet, and: never verified, values changed since, still pending, or
# refused/held by a check that costs nothing to redo (the tenant may have fixed its funnels or policy).
# A sales-API rejection is final for the values it saw.
_CANDIDATES_SQL = """
SELECT p.tenant_id::text, p.gateway, p.order_id, r.event_id, p.amount, p.currency, p.product_id,
       t.unverifiable_policy, v.first_checked_at, v.outcome, v.reason
  FROM core.dedupe_registry r
  JOIN core.purchases p ON p.event_id = r.event_id
  JOIN core.tenants t ON t.tenant_id = p.tenant_id
  LEFT JOIN core.purchase_verifications v
         ON v.tenant_id = p.tenant_id AND v.gateway = p.gateway AND v.order_id = p.order_id
 WHERE r.event_name = 'Purchase' AND p.approved_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM ops.dispatch_queue q WHERE q.event_id = r.event_id)
   AND (v.order_id IS NULL
        OR (v.amount, v.currency, v.product_id) IS DISTINCT FROM (p.amount, p.currency, p.product_id)
        OR v.outcome = 'pending'
        OR (NOT v.dispatchable AND v.method <> 'sales_api' AND p.approved_at > %(now)s - interval '7 days'))
"""


@dataclass(frozen=True)
class Candidate:
    tenant_id: str
    gateway: str
    order_id: str
    event_id: str
    amount: Decimal | None
    currency: str | None
    product_id: str | None
    policy: str | None  # the tenant's own unverifiable_policy (None: the configured default)
    first_checked_at: datetime | None
    previous_outcome: str | None
    previous_reason: str | None


def candidates(conn: psycopg.Connection, *, now: datetime, tenant_id: str | None = None) -> list[Candidate]:
    sql, params = _CANDIDATES_SQL, {"now": now}
    if tenant_id:
        sql += " AND p.tenant_id = %(tenant)s"
        params["tenant"] = tenant_id
    sql += " ORDER BY p.approved_at, p.order_id"
    return [Candidate(*row) for row in conn.execute(sql, params).fetchall()]


def references(conn: psycopg.Connection, tenant_ids: Iterable[str]) -> dict[str, Reference]:
    """Per tenant: the products its funnels sell (``core.funnels.product_ids``) and their known prices
    (``core.funnel_products``; a priced product counts as sold)."""
    rows = conn.execute(
        """
        SELECT f.tenant_id::text, pid, NULL::text, NULL::numeric
          FROM core.funnels f CROSS JOIN LATERAL unnest(f.product_ids) AS pid
         WHERE f.tenant_id = ANY(%(t)s::uuid[])
        UNION ALL
        SELECT fp.tenant_id::text, fp.product_id, fp.currency, fp.price
          FROM core.funnel_products fp
         WHERE fp.tenant_id = ANY(%(t)s::uuid[])
        """,
        {"t": list(tenant_ids)},
    ).fetchall()
    products: dict[str, dict[str, dict[str, list[Decimal]]]] = defaultdict(lambda: defaultdict(dict))
    for tenant, product, currency, price in rows:
        prices = products[tenant][product]
        if currency is not None and price is not None:
            prices.setdefault(currency, []).append(price)
    return {
        tenant: Reference({p: {c: tuple(v) for c, v in by_cur.items()} for p, by_cur in by_product.items()})
        for tenant, by_product in products.items()
    }


def api_credential_kinds(conn: psycopg.Connection, tenant_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(tenant_id, kind) of every configured sales-API secret among ``tenant_ids``."""
    rows = conn.execute(
        "SELECT tenant_id::text, kind FROM core.tenant_secrets WHERE tenant_id = ANY(%s::uuid[]) AND kind = ANY(%s)",
        (list(tenant_ids), list(SALES_API_KINDS.values())),
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


@dataclass(frozen=True)
class Result:
    candidate: Candidate
    verdict: Verdict
    dispatchable: bool
    detail: str | None = None


_WRITE_COLUMNS = (
    "tenant_id", "gateway", "order_id", "event_id", "outcome", "reason", "method", "dispatchable", "amount",
    "currency", "product_id", "gateway_status", "gateway_amount", "detail", "first_checked_at", "checked_at",
)  # fmt: skip


def write(conn: psycopg.Connection, results: Sequence[Result], now: datetime) -> None:
    """Upsert the results (COPY into a temporary table, then one INSERT .. ON CONFLICT). An unchanged
    verdict is not rewritten (rows refused by the funnels are re-evaluated every run); pending ones are,
    so their attempts and time move on."""
    if not results:
        return
    columns = ", ".join(_WRITE_COLUMNS)
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE tmp_verifications (LIKE core.purchase_verifications INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with conn.cursor().copy(f"COPY tmp_verifications ({columns}) FROM STDIN") as copy:
            for r in results:
                c, v = r.candidate, r.verdict
                detail = (r.detail or None) and r.detail[:500]
                row = (c.tenant_id, c.gateway, c.order_id, c.event_id, v.outcome, v.reason, v.method)
                row += (
                    r.dispatchable,
                    c.amount,
                    c.currency,
                    c.product_id,
                    v.gateway_status,
                    v.gateway_amount,
                )
                copy.write_row((*row, detail, now, now))
        conn.execute(
            f"""
            INSERT INTO core.purchase_verifications AS v ({columns})
            SELECT {columns} FROM tmp_verifications
            ON CONFLICT (tenant_id, gateway, order_id) DO UPDATE SET
                   event_id = EXCLUDED.event_id, outcome = EXCLUDED.outcome, reason = EXCLUDED.reason,
                   method = EXCLUDED.method, dispatchable = EXCLUDED.dispatchable, amount = EXCLUDED.amount,
                   currency = EXCLUDED.currency, product_id = EXCLUDED.product_id,
                   gateway_status = EXCLUDED.gateway_status, gateway_amount = EXCLUDED.gateway_amount,
                   detail = EXCLUDED.detail, attempts = v.attempts + 1, checked_at = EXCLUDED.checked_at,
                   updated_at = now()
             WHERE v.outcome = 'pending' OR EXCLUDED.outcome = 'pending'
                OR (v.outcome, v.reason, v.method, v.dispatchable, v.amount, v.currency, v.product_id)
                   IS DISTINCT FROM (EXCLUDED.outcome, EXCLUDED.reason, EXCLUDED.method, EXCLUDED.dispatchable,
                                     EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.product_id)
            """
        )


def recent_outcomes(conn: psycopg.Connection, *, since: datetime) -> list[tuple[str, str, str, bool, int]]:
    """(tenant_id, outcome, reason, dispatchable, count) of verdicts reached since ``since``."""
    return [
        (r[0], r[1], r[2], r[3], int(r[4]))
        for r in conn.execute(
            """SELECT tenant_id::text, outcome, reason, dispatchable, count(*)
                 FROM core.purchase_verifications WHERE checked_at >= %s
                GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC""",
            (since,),
        ).fetchall()
    ]


def held_now(conn: psycopg.Connection) -> int:
    """Purchases currently kept from Meta (rejected, pending or held) and not queued: for the alarm's report."""
    return conn.execute(
        """SELECT count(*) FROM core.purchase_verifications v
            WHERE NOT v.dispatchable
              AND NOT EXISTS (SELECT 1 FROM ops.dispatch_queue q WHERE q.event_id = v.event_id)"""
    ).fetchone()[0]


def add_funnel(
    conn: psycopg.Connection,
    tenant_id: str,
    name: str,
    prices: dict[str, Sequence[tuple[Decimal, str]]],
    *,
    landing_url_prefix: str | None = None,
) -> str:
    """A funnel selling ``prices`` keys (product id -> [(price, currency)], an empty list = price
    unknown); returns its id. The reference the funnel check uses (``references``)."""
    with conn.transaction():
        funnel_id = conn.execute(
            """INSERT INTO core.funnels (tenant_id, name, landing_url_prefix, product_ids)
               VALUES (%s, %s, %s, %s) RETURNING funnel_id::text""",
            (tenant_id, name, landing_url_prefix, list(prices)),
        ).fetchone()[0]
        rows = [
            (tenant_id, funnel_id, p, c.upper(), price) for p, offers in prices.items() for price, c in offers
        ]
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO core.funnel_products (tenant_id, funnel_id, product_id, currency, price)
                       VALUES (%s, %s, %s, %s, %s)""",
                    rows,
                )
    return funnel_id


def set_policy(conn: psycopg.Connection, tenant_id: str, policy: str | None) -> None:
    """The tenant's policy for unverifiable purchases: 'send', 'hold' or None (the configured default)."""
    conn.execute("UPDATE core.tenants SET unverifiable_policy = %s WHERE tenant_id = %s", (policy, tenant_id))
