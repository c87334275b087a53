"""Every query of the console's pages, over the dbt marts ``analytics.console_*`` (dbt/models/marts/console).

Each runs in a request transaction that named its tenant (console/db.py), so row-level security already
limits it to that tenant; the explicit ``tenant_id = %s`` is still written, as the leading column of
every index. Filters are plain comparisons on columns (leakproof), which the planner may push beneath
the row-level security quals and serve from an index.
"""

from __future__ import annotations

from collections.abc import Callable
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
    "sent": "{j}queue_status = 'sent'",
    "pending": "{j}queue_status = 'pending' AND ({j}attempts = 0 OR {j}next_attempt_at <= now())",
    "failed": "({j}queue_status = 'blocked' OR ({j}queue_status = 'pending' AND {j}attempts > 0"
    " AND {j}next_attempt_at > now()))",
    "dlq": "{j}queue_status = 'dlq'",
    "waiting": "{j}approved_at IS NOT NULL AND {j}queue_status IS NULL",
    "not_approved": "{j}approved_at IS NULL",
}

OPEN_STATES = ("pending", "failed", "dlq")  # states of console_open_dispatches (the queue's unsent events)


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
             LEFT JOIN analytics.console_daily_metrics_today m ON m.tenant_id = s.tenant_id
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
    """``days`` UTC days ending today: today live, the days before from the stored table (a day stored
    before it ended is marked partial; a day not stored yet is missing: None)."""
    today = today or utc_today()
    lo = today - timedelta(days=days - 1)
    live_from = today
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
        f"SELECT metric_date, {columns} FROM analytics.console_daily_metrics_today WHERE tenant_id = %s",
        (tenant_id,),
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
    where, params = ["j.tenant_id = %s"], [tenant_id]
    if f.gateway in GATEWAYS:
        where.append("j.gateway = %s")
        params.append(f.gateway)
    if f.match in STAGES:
        where.append("j.match_stage = %s")
        params.append(f.match)
    elif f.match == "unmatched":
        where.append(
            "j.approved_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM analytics.console_matches m"
            " WHERE m.tenant_id = j.tenant_id AND m.gateway = j.gateway AND m.order_id = j.order_id)"
        )
    if f.state in STATE_FILTERS and f.state not in OPEN_STATES:  # open states: purchases_page walks the queue
        where.append(STATE_FILTERS[f.state].format(j="j."))
    if f.day_from:
        where.append("j.partition_date >= %s")
        params.append(f.day_from)
    if f.day_to:
        where.append("j.partition_date <= %s")
        params.append(f.day_to)
    if f.email_hash:
        where.append("j.email_hash = %s")
        params.append(f.email_hash)
    elif f.phone_hash and f.order_id:
        where.append("(j.phone_hash = %s OR (j.gateway = ANY(%s) AND j.order_id = %s))")
        params += [f.phone_hash, list(GATEWAYS), f.order_id]
    elif f.phone_hash:
        where.append("j.phone_hash = %s")
        params.append(f.phone_hash)
    elif f.order_id:
        where.append("j.gateway = ANY(%s) AND j.order_id = %s")
        params += [list(GATEWAYS), f.order_id]
    return where, params


Cursor = tuple[date, int] | tuple[datetime, str]


def purchases_page(
    conn: psycopg.Connection, tenant_id: str, f: PurchaseFilters, after: Cursor | None, size: int
) -> tuple[list[dict], Cursor | None]:
    """One page, newest first, and the next page's cursor (keyset, never OFFSET)."""
    sql, params, next_of = purchases_query(tenant_id, f, after, size)
    rows = conn.execute(sql, params).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    return rows, (next_of(rows[-1]) if more and rows else None)


def purchases_query(
    tenant_id: str, f: PurchaseFilters, after: Cursor | None, size: int
) -> tuple[str, list, Callable[[dict], Cursor]]:
    """The SQL of one purchases page (size + 1 rows: the extra one says there is a next page), its
    parameters, and how to read the next cursor from a row (bench P7 explains this very SQL).

    Most lists walk the tenant's purchases on (partition_date, first_conversion_id). A rare sending state
    (pending, failed, in the DLQ) walks the tenant's open events instead, newest event first on
    (event_time, event_id) (index of sql/0605): walking every purchase until enough rare ones turn up
    took 0.5 s at 1 M purchases (bench P7).
    """
    where, params = _purchase_where(tenant_id, f)
    columns = """j.gateway, j.order_id, j.partition_date, j.first_conversion_id, j.approved_at, j.amount,
                 j.currency, j.purchase_status, j.match_stage, j.dispatch_state, j.dlq_reason, j.sent_at"""
    if f.state in OPEN_STATES:
        # The open events of that state, newest first (a subquery kept apart by OFFSET 0, so its order
        # feeds the LIMIT), each joined to its journey; the filters the queue row carries (gateway, the
        # purchase day = the event time's UTC day) are applied before the join.
        inner, inner_params = ["tenant_id = %s", STATE_FILTERS[f.state].format(j="")], [tenant_id]
        if f.gateway in GATEWAYS:
            inner.append("gateway = %s")
            inner_params.append(f.gateway)
        if f.day_from:
            inner.append("event_time >= %s")
            inner_params.append(datetime.combine(f.day_from, datetime.min.time(), UTC))
        if f.day_to:
            inner.append("event_time < %s")
            inner_params.append(datetime.combine(f.day_to + timedelta(days=1), datetime.min.time(), UTC))
        if after:
            inner.append("(event_time, event_id) < (%s, %s)")
            inner_params += [after[0], after[1]]
        sql = f"""SELECT {columns}, o.event_time, o.event_id
                    FROM (SELECT event_id, event_time FROM analytics.console_open_dispatches
                           WHERE {" AND ".join(inner)} ORDER BY event_time DESC, event_id DESC OFFSET 0) o
                   CROSS JOIN LATERAL (SELECT * FROM analytics.console_purchase_journeys j
                                        WHERE j.event_id = o.event_id AND {" AND ".join(where)}) j
                   ORDER BY o.event_time DESC, o.event_id DESC LIMIT %s"""
        params = [*inner_params, *params]
        next_of = lambda row: (row["event_time"], row["event_id"])  # noqa: E731
    else:
        sql = f"SELECT {columns} FROM analytics.console_purchase_journeys j WHERE {' AND '.join(where)}"
        if after:
            sql += " AND (j.partition_date, j.first_conversion_id) < (%s, %s)"
            params += [after[0], after[1]]
        sql += " ORDER BY j.partition_date DESC, j.first_conversion_id DESC LIMIT %s"
        next_of = lambda row: (row["partition_date"], row["first_conversion_id"])  # noqa: E731
    return sql, [*params, size + 1], next_of


def encode_cursor(cursor: Cursor) -> str:
    first, second = cursor
    return f"{first.isoformat()}|{second}"


def decode_cursor(value: str | None, state: str | None) -> Cursor | None:
    """The cursor of purchases_page for this list (open states: event time and id; else day and arrival)."""
    if not value or "|" not in value:
        return None
    first, _, second = value.partition("|")
    try:
        if state in OPEN_STATES:
            return datetime.fromisoformat(first), second[:64]
        return date.fromisoformat(first), int(second)
    except ValueError:
        return None


def journey(
    conn: psycopg.Connection, tenant_id: str, gateway: str, order_id: str, click_window_days: float = 31
) -> dict | None:
    """A purchase's whole way: the journey row, its click, each delivery, each CAPI attempt, the console's
    replays. ``click_window_days``: how far before the purchase the matched click may be (the matching
    lookback, plus a day)."""
    head = conn.execute(
        "SELECT * FROM analytics.console_purchase_journeys WHERE tenant_id = %s AND gateway = %s AND order_id = %s",
        (tenant_id, gateway, order_id),
    ).fetchone()
    if head is None:
        return None
    click = None
    if head["click_id"] is not None and head["approved_at"] is not None:
        click = conn.execute(  # bounded on occurred_at: landing.clicks is partitioned by day
            """SELECT occurred_at, event_type, landing_url FROM analytics.console_clicks
                WHERE tenant_id = %s AND click_id = %s
                  AND occurred_at >= %s AND occurred_at <= %s""",
            (
                tenant_id,
                head["click_id"],
                head["approved_at"] - timedelta(days=click_window_days),
                head["approved_at"] + timedelta(days=1),
            ),
        ).fetchone()
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
    return {"head": head, "click": click, "deliveries": deliveries, "attempts": attempts, "replays": replays}


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
