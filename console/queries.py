"""Every query of the console's pages, over the dbt marts ``analytics.console_*`` (dbt/models/marts/console).

Each runs in a request transaction that named its tenant (console/db.py), so row-level security already
limits it to that tenant; the explicit ``tenant_id = %s`` is still written, as the leading column of
every index. Filters are plain comparisons on columns (leakproof), which the planner may push beneath
the row-level security quals and serve from an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg

from trackai.core import pii

GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")
STAGES = ("deterministic", "semi_deterministic", "probabilistic")
USER_DATA_KEYS = ("em", "ph", "fbc", "fbp", "external_id", "client_ip_address", "client_user_agent")
DISPATCH_STATES = ("sent", "pending", "failed", "dlq", "waiting", "not_approved")
# Columns of console_daily_metrics(_recent): all additive over days.
METRIC_COLUMNS = (
    "purchases",
    "revenue_brl",
    "purchases_other_currency",
    "matched",
    *(f"matched_{s}" for s in STAGES),
    "sent",
    "revenue_sent_brl",
    "estimated_emq_sum",
    *(f"sent_with_{k}" for k in USER_DATA_KEYS),
    *(f"sent_{s}" for s in STAGES),
)
# What each dispatch-state filter means on the journey mart's raw columns: the macro console_dispatch_state
# (dbt/macros/console_metrics.sql) written as sargable predicates (tests/console check that they agree).
STATE_FILTERS = {
    "sent": "queue_status = 'sent'",
    "pending": "queue_status = 'pending' AND (attempts = 0 OR next_attempt_at <= now())",
    "failed": "(queue_status = 'blocked' OR (queue_status = 'pending' AND attempts > 0 AND next_attempt_at > now()))",
    "dlq": "queue_status = 'dlq'",
    "waiting": "approved_at IS NOT NULL AND queue_status IS NULL",
    "not_approved": "approved_at IS NULL",
}


def utc_today() -> date:
    return datetime.now(UTC).date()


# ------------------------------------------------------------------------------------------ tenant


def tenant_setup(conn: psycopg.Connection, tenant_id: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM analytics.console_tenant_setup WHERE tenant_id = %s", (tenant_id,)
    ).fetchone()


def webhook_rejections(conn: psycopg.Connection, tenant_id: str) -> list[dict]:
    return conn.execute(
        """SELECT gateway, reason, refusals, last_refused_at FROM analytics.console_webhook_rejections
            WHERE tenant_id = %s ORDER BY gateway, refusals DESC""",
        (tenant_id,),
    ).fetchall()


def tenants_overview(conn: psycopg.Connection) -> list[dict]:
    """Operator page (operator transaction): every tenant with today's purchases and its open DLQ."""
    return conn.execute(
        """SELECT s.tenant_id::text, s.tenant_name, s.pixel_id, s.active,
                  coalesce(m.purchases, 0) AS purchases_today, coalesce(o.dlq, 0) AS dlq
             FROM analytics.console_tenant_setup s
             LEFT JOIN analytics.console_daily_metrics_recent m
                    ON m.tenant_id = s.tenant_id AND m.metric_date = (now() AT TIME ZONE 'UTC')::date
             LEFT JOIN (SELECT tenant_id, count(*) AS dlq FROM analytics.console_open_dispatches
                         WHERE queue_status = 'dlq' GROUP BY tenant_id) o ON o.tenant_id = s.tenant_id
            ORDER BY s.tenant_name"""
    ).fetchall()


# ----------------------------------------------------------------------------------------- metrics


@dataclass
class DailyMetrics:
    """A window of days: one dict of METRIC_COLUMNS per day (None: the day is not consolidated yet)."""

    days: list[date]
    rows: dict[date, dict | None]
    partial: list[date] = field(default_factory=list)

    @property
    def missing(self) -> list[date]:
        return [d for d in self.days if self.rows.get(d) is None]

    def total(self, column: str) -> float:
        return sum(float(r[column]) for r in self.rows.values() if r is not None)

    def series(self, column: str) -> list[float | None]:
        return [None if self.rows.get(d) is None else float(self.rows[d][column]) for d in self.days]

    def emq_series(self) -> list[float | None]:
        out = []
        for d in self.days:
            row = self.rows.get(d)
            out.append(
                round(float(row["estimated_emq_sum"]) / row["sent"], 2) if row and row["sent"] else None
            )
        return out

    def emq(self) -> float | None:
        sent = self.total("sent")
        return round(self.total("estimated_emq_sum") / sent, 2) if sent else None


def daily_metrics(
    conn: psycopg.Connection, tenant_id: str, days: int, today: date | None = None
) -> DailyMetrics:
    """``days`` UTC days ending today: stored rows up to the day before yesterday, live ones after."""
    today = today or utc_today()
    lo = today - timedelta(days=days - 1)
    live_from = max(lo, today - timedelta(days=1))
    columns = ", ".join(METRIC_COLUMNS)
    rows: dict[date, dict | None] = {}
    partial = []
    if lo < live_from:
        for row in conn.execute(
            f"""SELECT metric_date, is_final, {columns} FROM analytics.console_daily_metrics
                 WHERE tenant_id = %s AND metric_date >= %s AND metric_date < %s""",
            (tenant_id, lo, live_from),
        ):
            rows[row["metric_date"]] = row
            if not row["is_final"]:
                partial.append(row["metric_date"])
    live = conn.execute(
        f"""SELECT metric_date, {columns} FROM analytics.console_daily_metrics_recent
             WHERE tenant_id = %s AND metric_date >= %s""",
        (tenant_id, live_from),
    ).fetchall()
    zero = dict.fromkeys(METRIC_COLUMNS, 0)
    all_days = [lo + timedelta(days=i) for i in range(days)]
    for d in all_days:
        if d >= live_from:
            rows[d] = zero  # a live day without activity is a real zero
    for row in live:
        rows[row["metric_date"]] = row
    for d in all_days:
        rows.setdefault(d, None)
    return DailyMetrics(all_days, rows, sorted(partial))


def open_dispatches(conn: psycopg.Connection, tenant_id: str, since: date) -> dict[str, int]:
    """Events not accepted yet, by state, among purchases of the window (event time since ``since``)."""
    counts = dict.fromkeys(("pending", "failed", "dlq"), 0)
    for row in conn.execute(
        """SELECT dispatch_state, count(*) AS n FROM analytics.console_open_dispatches
            WHERE tenant_id = %s AND event_time >= %s GROUP BY dispatch_state""",
        (tenant_id, datetime.combine(since, datetime.min.time(), UTC)),
    ):
        counts[row["dispatch_state"]] = row["n"]
    return counts


def emq_window(conn: psycopg.Connection, tenant_id: str, hours: int) -> tuple[int, float | None]:
    """(events sent, average estimated EMQ) over the last ``hours`` (the EMQ alarm's window)."""
    row = conn.execute(
        """SELECT count(*) AS n, round(avg(estimated_emq), 2) AS emq FROM analytics.console_sent_events
            WHERE tenant_id = %s AND sent_at > now() - make_interval(hours => %s)""",
        (tenant_id, hours),
    ).fetchone()
    return row["n"], None if row["emq"] is None else float(row["emq"])


def meta_emq(conn: psycopg.Connection, tenant_id: str, since: date) -> dict[date, dict]:
    """Meta's Purchase score per day since ``since``."""
    rows = conn.execute(
        """SELECT quality_date, composite_score, match_key_feedback, fetched_at FROM analytics.console_meta_emq_daily
            WHERE tenant_id = %s AND event_name = 'Purchase' AND quality_date >= %s""",
        (tenant_id, since),
    ).fetchall()
    return {r["quality_date"]: r for r in rows}


# --------------------------------------------------------------------------------------- purchases


@dataclass(frozen=True)
class Search:
    """What the buyer search box held, reduced to what may be stored: an order id, or hashes."""

    order_id: str | None = None
    email_hash: str | None = None
    phone_hash: str | None = None

    @property
    def kind(self) -> str | None:
        if self.email_hash:
            return "email"
        if self.phone_hash and self.order_id:
            return "phone_or_order"
        if self.phone_hash:
            return "phone"
        return "order" if self.order_id else None


def classify_search(text: str) -> Search:
    """An e-mail is hashed like ingest hashes it; a phone-looking string is hashed as a phone (and also
    tried as an order id when it is only digits); anything else is an order id."""
    value = text.strip()
    if not value:
        return Search()
    if "@" in value:
        return Search(email_hash=pii.hash_email(value))
    digits = sum(c.isdigit() for c in value)
    phone_like = digits >= 8 and all(c.isdigit() or c in " +-().\u00a0" for c in value)
    if phone_like:
        phone_hash = pii.hash_phone(value)
        if phone_hash:
            return Search(order_id=value if value.isdigit() else None, phone_hash=phone_hash)
    return Search(order_id=value[:200])


@dataclass(frozen=True)
class PurchaseFilters:
    gateway: str | None = None
    match: str | None = None  # a stage, or "unmatched"
    state: str | None = None  # one of DISPATCH_STATES
    day_from: date | None = None
    day_to: date | None = None
    order_id: str | None = None
    email_hash: str | None = None
    phone_hash: str | None = None

    @classmethod
    def searching(cls, search: Search, **others: object) -> PurchaseFilters:
        return cls(
            order_id=search.order_id, email_hash=search.email_hash, phone_hash=search.phone_hash, **others
        )


def _purchase_where(tenant_id: str, f: PurchaseFilters) -> tuple[list[str], list]:
    where, params = ["tenant_id = %s"], [tenant_id]
    if f.gateway in GATEWAYS:
        where.append("gateway = %s")
        params.append(f.gateway)
    if f.match in STAGES:
        where.append("match_stage = %s")
        params.append(f.match)
    elif f.match == "unmatched":
        where.append("approved_at IS NOT NULL AND match_stage IS NULL")
    if f.state in STATE_FILTERS:
        where.append(STATE_FILTERS[f.state])
    if f.day_from:
        where.append("partition_date >= %s")
        params.append(f.day_from)
    if f.day_to:
        where.append("partition_date <= %s")
        params.append(f.day_to)
    if f.email_hash:
        where.append("email_hash = %s")
        params.append(f.email_hash)
    elif f.phone_hash and f.order_id:
        where.append("(phone_hash = %s OR (gateway = ANY(%s) AND order_id = %s))")
        params += [f.phone_hash, list(GATEWAYS), f.order_id]
    elif f.phone_hash:
        where.append("phone_hash = %s")
        params.append(f.phone_hash)
    elif f.order_id:
        where.append("gateway = ANY(%s) AND order_id = %s")
        params += [list(GATEWAYS), f.order_id]
    return where, params


def purchases_page(
    conn: psycopg.Connection, tenant_id: str, f: PurchaseFilters, after: tuple[date, int] | None, size: int
) -> tuple[list[dict], tuple[date, int] | None]:
    """One page, newest first, by keyset on (partition_date, first_conversion_id); and the next cursor."""
    where, params = _purchase_where(tenant_id, f)
    if after:
        where.append("(partition_date, first_conversion_id) < (%s, %s)")
        params += [after[0], after[1]]
    rows = conn.execute(
        f"""SELECT gateway, order_id, partition_date, first_conversion_id, approved_at, amount, currency,
                   purchase_status, match_stage, dispatch_state, dlq_reason, sent_at
              FROM analytics.console_purchase_journeys WHERE {" AND ".join(where)}
             ORDER BY partition_date DESC, first_conversion_id DESC LIMIT %s""",
        [*params, size + 1],
    ).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    cursor = (rows[-1]["partition_date"], rows[-1]["first_conversion_id"]) if more and rows else None
    return rows, cursor


def journey(conn: psycopg.Connection, tenant_id: str, gateway: str, order_id: str) -> dict | None:
    """A purchase's whole way: the journey row, each delivery, each CAPI attempt, the console's replays."""
    head = conn.execute(
        "SELECT * FROM analytics.console_purchase_journeys WHERE tenant_id = %s AND gateway = %s AND order_id = %s",
        (tenant_id, gateway, order_id),
    ).fetchone()
    if head is None:
        return None
    deliveries = conn.execute(
        """SELECT received_at, event_type, status, gateway_status, amount, currency, delivery_key
             FROM analytics.console_webhook_deliveries
            WHERE tenant_id = %s AND gateway = %s AND order_id = %s ORDER BY conversion_id""",
        (tenant_id, gateway, order_id),
    ).fetchall()
    attempts = conn.execute("SELECT * FROM console.dispatch_attempts_of(%s)", (head["event_id"],)).fetchall()
    replays = conn.execute(
        """SELECT audit_id, user_email, created_at FROM console.audit_log
            WHERE tenant_id = %s AND action = 'replay' AND detail -> 'replayed' ? %s ORDER BY created_at""",
        (tenant_id, head["event_id"]),
    ).fetchall()
    return {"head": head, "deliveries": deliveries, "attempts": attempts, "replays": replays}


def states_of_events(conn: psycopg.Connection, tenant_id: str, event_ids: list[str]) -> list[dict]:
    return conn.execute(
        """SELECT event_id, gateway, order_id, dispatch_state, sent_at, dlq_reason
             FROM analytics.console_purchase_journeys WHERE tenant_id = %s AND event_id = ANY(%s)
            ORDER BY order_id""",
        (tenant_id, event_ids),
    ).fetchall()


# ---------------------------------------------------------------------------------------- failures


def dlq_counts(conn: psycopg.Connection, tenant_id: str) -> dict[str, int]:
    return {
        r["reason"]: r["n"]
        for r in conn.execute(
            """SELECT reason, count(*) AS n FROM analytics.console_dlq_entries
                WHERE tenant_id = %s AND replayed_at IS NULL GROUP BY reason""",
            (tenant_id,),
        )
    }


def dlq_page(
    conn: psycopg.Connection, tenant_id: str, after: tuple[datetime, str] | None, size: int
) -> tuple[list[dict], tuple[datetime, str] | None]:
    where, params = ["tenant_id = %s", "replayed_at IS NULL"], [tenant_id]
    if after:
        where.append("(created_at, event_id) < (%s, %s)")
        params += [after[0], after[1]]
    rows = conn.execute(
        f"""SELECT event_id, gateway, order_id, amount, currency, reason, error_code, error_subcode, error_title,
                   error_message, created_at, queue_status, deadline_at, meta_accepted,
                   (deadline_at IS NOT NULL AND deadline_at <= now()) AS past_deadline
              FROM analytics.console_dlq_entries WHERE {" AND ".join(where)}
             ORDER BY created_at DESC, event_id DESC LIMIT %s""",
        [*params, size + 1],
    ).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    return rows, ((rows[-1]["created_at"], rows[-1]["event_id"]) if more and rows else None)


def recent_replays(conn: psycopg.Connection, tenant_id: str, limit: int = 10) -> list[dict]:
    return conn.execute(
        """SELECT audit_id, user_email, created_at, jsonb_array_length(detail -> 'replayed') AS n
             FROM console.audit_log WHERE tenant_id = %s AND action = 'replay'
            ORDER BY created_at DESC LIMIT %s""",
        (tenant_id, limit),
    ).fetchall()


def replay_record(conn: psycopg.Connection, tenant_id: str, audit_id: int) -> dict | None:
    return conn.execute(
        """SELECT audit_id, user_email, created_at, detail FROM console.audit_log
            WHERE tenant_id = %s AND audit_id = %s AND action = 'replay'""",
        (tenant_id, audit_id),
    ).fetchone()
