"""Per (tenant, pixel) circuit breaker, persisted in ``ops.circuit_breakers`` so it survives runs.

closed --(threshold consecutive failed requests)--> open --(cool-down elapsed)--> half_open: one probe
batch is sent; its success closes the breaker, its failure re-opens it (new cool-down). While open
nothing is sent for that pixel. Only retryable failures (network, timeout, 5xx, throttling) count;
a code-100 refusal or a token error says nothing about Meta's availability and is neutral.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class Breaker:
    tenant_id: str
    pixel_id: str
    state: str = CLOSED
    consecutive_failures: int = 0
    opened_at: float | None = None
    last_failure_at: float | None = None
    threshold: int = 10
    cooldown_seconds: float = 60.0
    dirty: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def decide(self, now: float) -> str:
        """At the start of a run: 'send' (closed), 'probe' (one half-open batch) or 'skip' (open)."""
        with self._lock:
            if self.state == CLOSED:
                return "send"
            if self.opened_at is not None and now - self.opened_at < self.cooldown_seconds:
                return "skip"
            if self.state != HALF_OPEN:
                self.state = HALF_OPEN
                self.dirty = True
            return "probe"

    def allows(self) -> bool:
        """Whether another request may go out right now (checked before every attempt)."""
        with self._lock:
            return self.state != OPEN

    def success(self) -> None:
        with self._lock:
            if self.state != CLOSED or self.consecutive_failures:
                self.dirty = True
            self.state = CLOSED
            self.consecutive_failures = 0
            self.opened_at = None

    def failure(self, now: float) -> None:
        with self._lock:
            self.dirty = True
            self.consecutive_failures += 1
            self.last_failure_at = now
            if self.state == HALF_OPEN or self.consecutive_failures >= self.threshold:
                self.state = OPEN
                self.opened_at = now


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def load(
    conn: psycopg.Connection, tenant_id: str, pixel_id: str, *, threshold: int, cooldown_seconds: float
) -> Breaker:
    row = conn.execute(
        """SELECT state, consecutive_failures, opened_at, last_failure_at FROM ops.circuit_breakers
            WHERE tenant_id = %s AND pixel_id = %s""",
        (tenant_id, pixel_id),
    ).fetchone()
    breaker = Breaker(tenant_id, pixel_id, threshold=threshold, cooldown_seconds=cooldown_seconds)
    if row:
        breaker.state, breaker.consecutive_failures = row[0], row[1]
        breaker.opened_at, breaker.last_failure_at = _ts(row[2]), _ts(row[3])
    return breaker


def save(conn: psycopg.Connection, breaker: Breaker, now: float) -> None:
    with breaker._lock:
        if not breaker.dirty:
            return
        values = (
            breaker.tenant_id,
            breaker.pixel_id,
            breaker.state,
            breaker.consecutive_failures,
            _dt(breaker.opened_at),
            _dt(breaker.last_failure_at),
            _dt(now),
        )
        breaker.dirty = False
    conn.execute(
        """
        INSERT INTO ops.circuit_breakers
               (tenant_id, pixel_id, state, consecutive_failures, opened_at, last_failure_at, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (tenant_id, pixel_id) DO UPDATE
           SET state = EXCLUDED.state, consecutive_failures = EXCLUDED.consecutive_failures,
               opened_at = EXCLUDED.opened_at, last_failure_at = EXCLUDED.last_failure_at,
               updated_at = EXCLUDED.updated_at
        """,
        values,
    )
