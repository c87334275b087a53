"""Reconciliation: what billing counts against what Meta really accepted (docs/runbooks/billing.md).

Per tenant and period, three numbers must be equal:

- ``billed``   = ``billing.usage_counters.used`` (what the invoice uses and the dispatcher enforces);
- ``ledger``   = rows of ``billing.usage_ledger`` (one per event_id, PII-free);
- ``accepted`` = distinct event_ids whose FIRST non-test success attempt in ``ops.dispatch_attempts`` falls in
  the period (contract C2), computed independently of the billing tables.

``ops.dispatch_attempts`` partitions are archived after their retention (trackai.lifecycle), so only recent
periods can be reconciled against it (default: the current and the previous one).
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from trackai.core import billing as rules

_SQL = """
WITH accepted AS (
    SELECT a.tenant_id, to_char(a.created_at AT TIME ZONE 'America/Sao_Paulo', 'YYYY-MM') AS period,
           count(DISTINCT a.event_id) AS n
      FROM ops.dispatch_attempts a
     WHERE a.status = 'success' AND NOT a.is_test AND a.created_at >= %(start)s AND a.created_at < %(end)s
       AND NOT EXISTS (SELECT 1 FROM ops.dispatch_attempts b
                        WHERE b.event_id = a.event_id AND b.status = 'success' AND NOT b.is_test
                          AND b.created_at < a.created_at)
     GROUP BY 1, 2),
ledger AS (
    SELECT tenant_id, period, count(*) AS n FROM billing.usage_ledger
     WHERE period = ANY(%(periods)s) GROUP BY 1, 2),
billed AS (
    SELECT tenant_id, period, used AS n FROM billing.usage_counters WHERE period = ANY(%(periods)s))
SELECT coalesce(b.tenant_id, l.tenant_id, a.tenant_id)::text AS tenant_id,
       coalesce(b.period, l.period, a.period) AS period,
       coalesce(b.n, 0) AS billed, coalesce(l.n, 0) AS ledger, coalesce(a.n, 0) AS accepted
  FROM billed b
  FULL JOIN ledger l ON l.tenant_id = b.tenant_id AND l.period = b.period
  FULL JOIN accepted a ON a.tenant_id = coalesce(b.tenant_id, l.tenant_id)
                      AND a.period = coalesce(b.period, l.period)
 ORDER BY 2, 1
"""


def default_periods(now: datetime | None = None) -> list[str]:
    current = rules.period_of(now or rules.utc_now())
    return [rules.previous_period(current), current]


def reconcile(conn: psycopg.Connection, periods: list[str] | None = None) -> list[dict]:
    """One row per tenant and period with billed, ledger, accepted and ``ok`` (all three equal)."""
    periods = sorted(periods or default_periods())
    start = rules.period_bounds(periods[0])[0]
    end = rules.period_bounds(periods[-1])[1]
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(_SQL, {"start": start, "end": end, "periods": periods}).fetchall()
    out = []
    for row in rows:
        if row["period"] not in periods:
            continue
        row["ok"] = row["billed"] == row["ledger"] == row["accepted"]
        out.append(row)
    return out
