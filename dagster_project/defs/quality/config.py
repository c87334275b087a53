"""Alarm thresholds in one place. Defaults below; every field can be overridden by the env var
``TRACKAI_ALARM_<FIELD>`` (e.g. TRACKAI_ALARM_DLQ_WARN=10) or by Dagster resource config."""

from __future__ import annotations

from typing import Any

import dagster as dg

from trackai.settings import get_settings


class AlarmThresholds(dg.ConfigurableResource):
    dlq_warn: int = 5  # open DLQ rows > 5 -> WARN
    dlq_critical: int = 100  # > 100 -> ERROR (critical)
    breaker_open_minutes: float = 3.0  # a breaker open longer than this -> ERROR
    token_expiry_hours: float = 24.0  # Meta token expiring within this -> ERROR
    webhook_success_min_pct: float = 95.0  # accepted / (accepted + rejected) over the window
    webhook_window_minutes: int = 60
    webhook_min_volume: int = 20  # below this many deliveries in the window the rate is not judged
    backlog_max_pending: int = 1000
    latency_p95_max_ms: float = 500.0
    latency_window_minutes: int = 60
    ingest_stale_minutes: int = 60  # an active tenant (clicks in the last 7 days) silent this long
    match_rate_max_drop_pp: float = 20.0  # today's rate below the trailing-week rate by more than this
    match_rate_min_purchases: int = 10  # both today and the trailing week need this many purchases
    emq_min: float = 6.0  # estimated EMQ below this (per tenant, events sent in the last 48 h)
    emq_window_hours: int = 48
    emq_min_events: int = 10
    db_connections_max_ratio: float = 0.8  # connections / max_connections
    gx_window_hours: int = 24  # data contracts validate rows landed in this window
    gx_max_rows: int = 50000
    meta_graph_url: str = (
        ""  # when set, the token alarm first refreshes ops.meta_token_status via debug_token
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> AlarmThresholds:
        """TRACKAI_ALARM_* (``settings.alarm``), then ``overrides``."""
        return cls(**{**get_settings().alarm.model_dump(), **overrides})
