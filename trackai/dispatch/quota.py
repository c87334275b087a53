"""The dispatcher's side of billing quotas (issue 18, docs/billing.md); rules in ``trackai.core.billing``.

Three hooks in the run loop (``engine``) and one in the recording transaction (``store.apply``):

- ``before_claim``: held events ('quota_held') past their deadline go to the DLQ with reason ``quota``
  (never sent after Meta's 7-day window); then, per tenant, as many held events as the plan now allows
  (an upgrade, a new period) go back to 'pending', oldest first (audit: ``release``).
- ``admit_claimed``: of the claimed events of a tenant whose plan blocks at quota, those not counted yet
  beyond ``quota - used`` are held (status 'quota_held', audit: ``block``); events already in the ledger
  (a DLQ replay of an accepted event) are free. Dispatch runs are serialised by the advisory lock, so
  nothing else bumps the counter between this decision and the record.
- ``store.apply`` calls ``trackai.billing.ledger.record_accepted`` in the transaction recording the
  successes; ``send_notices`` posts the notices it returned after that commit.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import psycopg

from trackai.billing import ledger, notify, plans
from trackai.core import billing as rules
from trackai.dispatch import store


def before_claim(conn: psycopg.Connection, now: datetime) -> tuple[int, int]:
    """Expire held events at their deadline (DLQ 'quota'), release what the plans allow; (released, expired)."""
    expired = _expire_held(conn, now)
    released = 0
    held = conn.execute(
        "SELECT tenant_id::text, count(*) FROM ops.dispatch_queue WHERE status = 'quota_held' GROUP BY 1"
    ).fetchall()
    period = rules.period_of(now)
    for tenant_id, count in held:
        terms = plans.terms_now(conn, tenant_id, now)
        used = ledger.used(conn, tenant_id, period)
        n = rules.admit(used, terms, count)
        if n <= 0:
            continue
        with conn.transaction():
            moved = conn.execute(
                """UPDATE ops.dispatch_queue q SET status = 'pending', next_attempt_at = %(now)s,
                          updated_at = %(now)s, last_error = 'quota: released'
                     FROM (SELECT event_id FROM ops.dispatch_queue
                            WHERE tenant_id = %(t)s AND status = 'quota_held'
                            ORDER BY event_time, event_id LIMIT %(n)s FOR UPDATE) r
                    WHERE q.event_id = r.event_id""",
                {"now": now, "t": tenant_id, "n": n},
            ).rowcount
            ledger.audit(
                conn,
                tenant_id,
                period,
                "release",
                "dispatch",
                quota=terms.monthly_quota if terms else None,
                used=used,
                details={
                    "released": moved,
                    "still_held": count - moved,
                    "plan_code": terms.plan_code if terms else None,
                },
            )
        released += moved
    return released, expired


def _expire_held(conn: psycopg.Connection, now: datetime) -> int:
    with conn.transaction():
        rows = conn.execute(
            """UPDATE ops.dispatch_queue SET status = 'dlq', updated_at = %(now)s,
                      last_error = 'quota: held past the 7-day limit minus safety margin'
                WHERE status = 'quota_held' AND deadline_at <= %(now)s
            RETURNING event_id, tenant_id::text, gateway, pixel_id, payload, attempts""",
            {"now": now},
        ).fetchall()
        if not rows:
            return 0
        store.write_attempts(
            conn,
            [
                store.AttemptRow(
                    r[1], r[0], r[2], r[3], None, r[5] + 1, "expired", message="quota: deadline reached"
                )
                for r in rows
            ],
            now,
        )
        store.dlq_upsert(
            conn,
            [
                store.DlqRow(
                    r[0],
                    r[1],
                    r[2],
                    "quota",
                    None,
                    None,
                    "Quota",
                    "held at the plan's quota until Meta's 7-day limit",
                    r[4],
                )
                for r in rows
            ],
        )
        per_tenant: dict[str, int] = defaultdict(int)
        for r in rows:
            per_tenant[r[1]] += 1
        period = rules.period_of(now)
        for tenant_id, n in sorted(per_tenant.items()):
            ledger.audit(conn, tenant_id, period, "quota_dlq", "dispatch", details={"dlq": n})
    return len(rows)


def admit_claimed(
    conn: psycopg.Connection, ready: list[store.QueuedEvent], now: datetime
) -> tuple[list, int]:
    """The events that may be sent now, and how many were held (see the module doc)."""
    by_tenant: dict[str, list[store.QueuedEvent]] = defaultdict(list)
    for event in ready:
        by_tenant[event.tenant_id].append(event)
    period = rules.period_of(now)
    held_ids: set[str] = set()
    for tenant_id, events in by_tenant.items():
        terms = plans.terms_now(conn, tenant_id, now)
        if terms is None or terms.policy != "block":
            continue
        free = ledger.known(conn, tenant_id, (e.event_id for e in events))
        new = [e for e in events if e.event_id not in free]
        used = ledger.used(conn, tenant_id, period)
        n = rules.admit(used, terms, len(new))
        hold = [e.event_id for e in new[n:]]
        if not hold:
            continue
        with conn.transaction():
            conn.execute(
                """UPDATE ops.dispatch_queue SET status = 'quota_held', updated_at = %s,
                          last_error = 'quota: plan quota reached (policy block)'
                    WHERE event_id = ANY(%s) AND status = 'pending'""",
                (now, hold),
            )
            ledger.audit(
                conn,
                tenant_id,
                period,
                "block",
                "dispatch",
                quota=terms.monthly_quota,
                used=used,
                details={"held": len(hold), "admitted": n, "plan_code": terms.plan_code},
            )
        held_ids.update(hold)
    return [e for e in ready if e.event_id not in held_ids], len(held_ids)


def send_notices(changes: store.Changes) -> None:
    """After ``store.apply`` committed: post the threshold notices its successes produced (C6)."""
    if changes.billing_notices:
        notify.send_notices(changes.billing_notices)
