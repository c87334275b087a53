"""The operational alarms as plain functions over a psycopg connection (no Dagster run needed).

Each returns an ``AlarmResult``; ``dagster_project.defs.quality`` wraps them as asset checks and
``evaluate_all(url)`` runs them for the demo. Severity is explicit: ERROR pages, WARN notifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dagster_project.defs.quality.config import AlarmThresholds
from dagster_project.lib import keys
from trackai.core import emq
from trackai.settings import get_settings

WARN, ERROR = "WARN", "ERROR"


def runbook_url(page: str) -> str:
    base = get_settings().runbook_base_url
    return base.rstrip("/") + "/" + page


@dataclass
class AlarmResult:
    name: str
    passed: bool
    severity: str  # "WARN" or "ERROR": the severity this alarm has when it fails
    value: Any
    threshold: Any
    runbook: str
    asset_key: tuple[str, ...] = ()
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        state = "OK  " if self.passed else f"FAIL/{self.severity}"
        return (
            f"{state:<10} {self.name:<28} value={self.value!s:<10} threshold={self.threshold}  {self.runbook}"
        )


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    asset_key: tuple[str, ...]
    severity: str
    runbook: str
    description: str
    fn: Callable[[psycopg.Connection, AlarmThresholds, AlarmSpec], AlarmResult]

    def result(
        self, passed: bool, value: Any, threshold: Any, severity: str | None = None, **details
    ) -> AlarmResult:
        return AlarmResult(
            name=self.name,
            passed=passed,
            severity=severity or self.severity,
            value=value,
            threshold=threshold,
            runbook=runbook_url(self.runbook),
            asset_key=self.asset_key,
            description=self.description,
            details=details,
        )


def _scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> Any:
    return conn.execute(query, params).fetchone()[0]


def dlq_depth(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    depth = _scalar(conn, "SELECT count(*) FROM ops.dlq WHERE replayed_at IS NULL")
    by_tenant = dict(
        conn.execute(
            "SELECT tenant_id::text, count(*) FROM ops.dlq WHERE replayed_at IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
        ).fetchall()
    )
    severity = ERROR if depth > t.dlq_critical else WARN
    return spec.result(
        depth <= t.dlq_warn,
        depth,
        f"warn>{t.dlq_warn}, critical>{t.dlq_critical}",
        severity,
        by_tenant=by_tenant,
    )


def breaker_open(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    rows = conn.execute(
        """SELECT tenant_id::text, pixel_id, round(extract(epoch FROM now() - opened_at) / 60.0, 1)
           FROM ops.circuit_breakers
           WHERE state = 'open' AND opened_at < now() - make_interval(secs => %s)""",
        (t.breaker_open_minutes * 60,),
    ).fetchall()
    return spec.result(
        not rows,
        len(rows),
        f"open > {t.breaker_open_minutes} min",
        breakers=[{"tenant_id": r[0], "pixel_id": r[1], "open_minutes": float(r[2])} for r in rows],
    )


def refresh_token_status(conn: psycopg.Connection, graph_url: str, timeout: float = 10.0) -> int:
    """Ask Meta's ``debug_token`` (or the fake at ``graph_url``) about every active tenant's token and
    upsert ops.meta_token_status; returns how many tenants were checked."""
    import httpx

    from trackai import tenants
    from trackai.dispatch import store

    active = conn.execute("SELECT tenant_id::text FROM core.tenants WHERE active").fetchall()
    checked = 0
    with httpx.Client(timeout=timeout) as client:
        for (tenant_id,) in active:
            token = tenants.get_secret(conn, tenant_id, "meta_token")
            if not token:
                continue
            resp = client.get(
                graph_url.rstrip("/") + "/debug_token", params={"input_token": token, "access_token": token}
            )
            info = (resp.json() or {}).get("data", {}) if resp.status_code == 200 else {}
            store.record_debug_token(
                conn,
                tenant_id,
                valid=bool(info.get("is_valid")),
                expires_at=int(info.get("expires_at") or 0),
                message=f"debug_token http {resp.status_code}",
            )
            checked += 1
    return checked


def token_expiring(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    if t.meta_graph_url:
        refresh_token_status(conn, t.meta_graph_url)
    rows = conn.execute(
        """SELECT m.tenant_id::text, m.status, m.expires_at
           FROM ops.meta_token_status m JOIN core.tenants ten USING (tenant_id)
           WHERE ten.active AND (m.status = 'invalid'
                 OR (m.expires_at IS NOT NULL AND m.expires_at < now() + make_interval(secs => %s)))""",
        (t.token_expiry_hours * 3600,),
    ).fetchall()
    return spec.result(
        not rows,
        len(rows),
        f"expires within {t.token_expiry_hours} h or invalid",
        tenants=[{"tenant_id": r[0], "status": r[1], "expires_at": str(r[2])} for r in rows],
    )


def webhook_success_rate(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    window = (t.webhook_window_minutes,)
    accepted = _scalar(
        conn,
        "SELECT count(*) FROM landing.webhook_events WHERE received_at > now() - make_interval(mins => %s)",
        window,
    )
    from trackai.core.gateways import ADAPTERS  # the known gateways (issue 22: edit limited to this function)

    # Refusals of known tenants on known gateways only: an unknown tenant, a made-up gateway or an address
    # over its refusal budget is anyone's noise, not a failing delivery. A row counts `hits` refusals.
    rejected = _scalar(
        conn,
        "SELECT coalesce(sum(hits), 0) FROM landing.webhook_rejections"
        " WHERE created_at > now() - make_interval(mins => %s)"
        " AND tenant_id IS NOT NULL AND gateway = ANY(%s)",
        (t.webhook_window_minutes, list(ADAPTERS)),
    )
    total = accepted + rejected
    rate = round(100.0 * accepted / total, 2) if total else None
    judged = total >= t.webhook_min_volume
    passed = not judged or rate >= t.webhook_success_min_pct
    return spec.result(
        passed,
        rate,
        f"< {t.webhook_success_min_pct}% over {t.webhook_window_minutes} min",
        accepted=accepted,
        rejected=rejected,
        judged=judged,
    )


def dispatch_backlog(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    pending = _scalar(conn, "SELECT count(*) FROM ops.dispatch_queue WHERE status = 'pending'")
    return spec.result(pending <= t.backlog_max_pending, pending, f"> {t.backlog_max_pending} pending")


def dispatch_latency_p95(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    p95, n = conn.execute(
        """SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms), count(*)
           FROM ops.dispatch_attempts
           WHERE created_at > now() - make_interval(mins => %s) AND latency_ms IS NOT NULL""",
        (t.latency_window_minutes,),
    ).fetchone()
    value = round(float(p95), 1) if p95 is not None else None
    return spec.result(
        value is None or value <= t.latency_p95_max_ms,
        value,
        f"p95 > {t.latency_p95_max_ms} ms over {t.latency_window_minutes} min",
        attempts=n,
    )


def ingest_freshness(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    rows = conn.execute(
        """SELECT ten.tenant_id::text, ten.name, last.at
           FROM core.tenants ten
           CROSS JOIN LATERAL (SELECT max(c.occurred_at) AS at FROM landing.clicks c
                               WHERE c.tenant_id = ten.tenant_id
                                 AND c.occurred_at > now() - interval '7 days') AS last
           WHERE ten.active AND last.at IS NOT NULL AND last.at < now() - make_interval(mins => %s)""",
        (t.ingest_stale_minutes,),
    ).fetchall()
    return spec.result(
        not rows,
        len(rows),
        f"active tenant without clicks for {t.ingest_stale_minutes} min",
        stale=[{"tenant_id": r[0], "name": r[1], "last_click": str(r[2])} for r in rows],
    )


def match_rate_drop(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    rows = conn.execute(
        """WITH p AS (
               SELECT p.tenant_id, p.partition_date = current_date AS is_today,
                      (m.order_id IS NOT NULL) AS matched
               FROM core.purchases p
               LEFT JOIN core.matches m USING (tenant_id, gateway, order_id)
               WHERE p.approved_at IS NOT NULL AND p.partition_date >= current_date - 7
           ), r AS (
               SELECT tenant_id,
                      count(*) FILTER (WHERE is_today) AS n_today,
                      100.0 * count(*) FILTER (WHERE is_today AND matched)
                            / nullif(count(*) FILTER (WHERE is_today), 0) AS today_pct,
                      count(*) FILTER (WHERE NOT is_today) AS n_week,
                      100.0 * count(*) FILTER (WHERE NOT is_today AND matched)
                            / nullif(count(*) FILTER (WHERE NOT is_today), 0) AS week_pct
               FROM p GROUP BY tenant_id
           )
           SELECT tenant_id::text, round(today_pct, 2), round(week_pct, 2), round(week_pct - today_pct, 2)
           FROM r WHERE n_today >= %s AND n_week >= %s""",
        (t.match_rate_min_purchases, t.match_rate_min_purchases),
    ).fetchall()
    dropped = [r for r in rows if r[3] is not None and float(r[3]) > t.match_rate_max_drop_pp]
    worst = max((float(r[3]) for r in rows if r[3] is not None), default=None)
    return spec.result(
        not dropped,
        worst,
        f"drop > {t.match_rate_max_drop_pp} pp vs trailing 7 days",
        tenants=[{"tenant_id": r[0], "today_pct": float(r[1]), "week_pct": float(r[2])} for r in dropped],
    )


def estimated_emq_low(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    rows = conn.execute(
        f"""SELECT tenant_id::text, round(avg({emq.sql_expression("payload -> 'user_data'")}), 2), count(*)
            FROM ops.dispatch_queue
            WHERE status = 'sent' AND sent_at > now() - make_interval(hours => %s)
            GROUP BY tenant_id HAVING count(*) >= %s""",
        (t.emq_window_hours, t.emq_min_events),
    ).fetchall()
    low = [r for r in rows if float(r[1]) < t.emq_min]
    worst = min((float(r[1]) for r in rows), default=None)
    return spec.result(
        not low,
        worst,
        f"estimated EMQ < {t.emq_min} (per tenant, {t.emq_window_hours} h)",
        label=emq.LABEL,
        tenants=[{"tenant_id": r[0], "estimated_emq": float(r[1])} for r in low],
    )


def db_connections(conn, t: AlarmThresholds, spec: AlarmSpec) -> AlarmResult:
    used, limit = conn.execute(
        "SELECT (SELECT count(*) FROM pg_stat_activity), current_setting('max_connections')::int"
    ).fetchone()
    ratio = round(used / limit, 3)
    return spec.result(
        ratio <= t.db_connections_max_ratio,
        ratio,
        f"> {t.db_connections_max_ratio} of max_connections",
        connections=used,
        max_connections=limit,
    )


def _key(key) -> tuple[str, ...]:
    return tuple(key.path)


ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        "dlq_depth",
        _key(keys.DLQ),
        WARN,
        "dlq.md",
        "Open (not replayed) DLQ rows: > 5 WARN, > 100 ERROR (critical).",
        dlq_depth,
    ),
    AlarmSpec(
        "circuit_breaker_open",
        _key(keys.CIRCUIT_BREAKERS),
        ERROR,
        "circuit-breaker.md",
        "A tenant pixel's circuit breaker open for more than 3 minutes.",
        breaker_open,
    ),
    AlarmSpec(
        "meta_token_expiring",
        _key(keys.META_TOKEN_STATUS),
        ERROR,
        "meta-token.md",
        "An active tenant's Meta token is invalid or expires within 24 h (debug_token).",
        token_expiring,
    ),
    AlarmSpec(
        "webhook_success_rate",
        _key(keys.WEBHOOK_EVENTS),
        ERROR,
        "webhook-failures.md",
        "Accepted / (accepted + rejected) webhooks over the last hour below 95 %.",
        webhook_success_rate,
    ),
    AlarmSpec(
        "dispatch_backlog",
        _key(keys.DISPATCH_QUEUE),
        WARN,
        "backlog.md",
        "More than 1,000 events pending dispatch.",
        dispatch_backlog,
    ),
    AlarmSpec(
        "dispatch_latency_p95",
        _key(keys.DISPATCH_ATTEMPTS),
        WARN,
        "backlog.md",
        "CAPI request latency p95 over the last hour above 500 ms.",
        dispatch_latency_p95,
    ),
    AlarmSpec(
        "ingest_freshness",
        _key(keys.CLICKS),
        WARN,
        "ingest-freshness.md",
        "An active tenant with clicks this week received none for N minutes.",
        ingest_freshness,
    ),
    AlarmSpec(
        "match_rate_drop",
        _key(keys.MATCHES),
        WARN,
        "match-rate-drop.md",
        "A tenant's match rate today dropped against its trailing week.",
        match_rate_drop,
    ),
    AlarmSpec(
        "estimated_emq_low",
        _key(keys.DISPATCH_QUEUE),
        WARN,
        "emq-drop.md",
        "Estimated EMQ (labelled estimate) of a tenant's sent events below 6.",
        estimated_emq_low,
    ),
    AlarmSpec(
        "db_connections",
        _key(keys.POSTGRES_SERVER),
        ERROR,
        "db-connections.md",
        "Connections above 80 % of max_connections.",
        db_connections,
    ),
)


def run_alarm(conn: psycopg.Connection, spec: AlarmSpec, thresholds: AlarmThresholds) -> AlarmResult:
    try:
        return spec.fn(conn, thresholds, spec)
    except Exception as exc:  # an alarm that cannot evaluate is itself a failure
        return spec.result(False, None, "evaluation error", ERROR, error=f"{type(exc).__name__}: {exc}")
