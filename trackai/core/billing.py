"""Billing rules, pure (no I/O): periods, the plan in force, the quota decision, thresholds, invoice amounts.

One copy of each rule (docs/billing.md):

- **Period**: the calendar month in America/Sao_Paulo of the moment Meta accepted the event
  (``period_of``); a period is written ``YYYY-MM``.
- **Usage** (contract C2): distinct event_ids Meta accepted, not test events, per tenant and period. The
  ledger counts an event_id once, in the period of its first acceptance.
- **Plan in force**: the subscription with the latest ``effective_at`` <= t (effective-dated).
- **Proration**: the quota, the overage price and the policy of a period are those of the subscription in
  force at the END of the period (enforcement uses the one in force now): an upgrade gives the whole new
  quota at once, a downgrade below current usage is over quota at once. The base fee is prorated by
  São Paulo calendar days: each day costs ``base_price / days_in_month`` of the plan in force at the end of
  that day; consecutive days on one subscription make one invoice line.
- **Money**: ``Decimal`` only. Each line is rounded to centavos ROUND_HALF_UP (``round_brl``); the total is
  the sum of the rounded lines. Overage = ``(used - quota) * overage_per_1000 / 1000`` per event (no
  rounding up to whole thousands).
- **Policy at quota**: ``warn`` sends everything and bills overage; ``block`` sends at most
  ``quota - used`` events not counted yet (``admit``), the rest stay queued.
- **Thresholds**: 80 % and 100 % of the quota in force; each is notified once per period and quota.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Sao_Paulo")
THRESHOLDS = (80, 100)
CENT = Decimal("0.01")
POLICIES = ("warn", "block")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def round_brl(amount: Decimal) -> Decimal:
    """The one rounding rule: to centavos, half up."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def period_of(ts: datetime) -> str:
    """``YYYY-MM`` of ``ts`` (aware) in America/Sao_Paulo."""
    if ts.tzinfo is None:
        raise ValueError("period_of needs an aware datetime")
    return ts.astimezone(TZ).strftime("%Y-%m")


def parse_period(period: str) -> tuple[int, int]:
    m = _PERIOD.match(period or "")
    if not m:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(m.group(1)), int(m.group(2))


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of the period as aware datetimes (São Paulo midnights)."""
    year, month = parse_period(period)
    start = datetime(year, month, 1, tzinfo=TZ)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=TZ)
    return start, end


def next_period(period: str) -> str:
    return period_of(period_bounds(period)[1])


def previous_period(period: str) -> str:
    return period_of(period_bounds(period)[0] - timedelta(seconds=1))


def days_in_period(period: str) -> int:
    year, month = parse_period(period)
    return calendar.monthrange(year, month)[1]


@dataclass(frozen=True)
class Terms:
    """A plan's terms (copied into each subscription)."""

    plan_code: str
    plan_name: str
    monthly_quota: int
    base_price_brl: Decimal
    overage_per_1000_brl: Decimal
    policy: str

    def __post_init__(self) -> None:
        if self.monthly_quota <= 0:
            raise ValueError("monthly_quota must be positive")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}")
        if Decimal(self.base_price_brl) < 0 or Decimal(self.overage_per_1000_brl) < 0:
            raise ValueError("prices must not be negative")


@dataclass(frozen=True)
class Subscription:
    terms: Terms
    effective_at: datetime
    subscription_id: int | None = None


def in_force(
    subscriptions: Sequence[Subscription], at: datetime, *, strict: bool = False
) -> Subscription | None:
    """The subscription with the latest effective_at <= at (< at when ``strict``)."""
    best = None
    for sub in subscriptions:
        if (sub.effective_at < at if strict else sub.effective_at <= at) and (
            best is None or sub.effective_at > best.effective_at
        ):
            best = sub
    return best


def period_terms(subscriptions: Sequence[Subscription], period: str) -> Terms | None:
    """The terms governing a period's quota, overage price and policy: in force at the period's end."""
    sub = in_force(subscriptions, period_bounds(period)[1], strict=True)
    return sub.terms if sub else None


def admit(used: int, terms: Terms | None, new_events: int) -> int:
    """How many of ``new_events`` (not counted yet this period) may be sent now."""
    if terms is None or terms.policy == "warn":
        return new_events
    return max(0, min(new_events, terms.monthly_quota - used))


def thresholds_reached(used: int, quota: int) -> list[int]:
    """Thresholds (percent) the usage has reached: used * 100 >= pct * quota."""
    return [pct for pct in THRESHOLDS if used * 100 >= pct * quota]


def quota_state(used: int, terms: Terms | None) -> str:
    """``no_plan``, ``ok``, ``warning`` (>= 80 %), ``at_quota`` (block plan, held), ``overage`` (warn plan)."""
    if terms is None:
        return "no_plan"
    reached = thresholds_reached(used, terms.monthly_quota)
    if 100 in reached:
        return "at_quota" if terms.policy == "block" else "overage"
    return "warning" if reached else "ok"


@dataclass(frozen=True)
class InvoiceLine:
    kind: str  # 'base' or 'overage'
    plan_code: str
    description: str
    quantity: Decimal  # days for 'base', events for 'overage'
    unit_price_brl: Decimal  # per day (unrounded) or per 1,000 events
    amount_brl: Decimal  # rounded (round_brl)
    first_day: date | None = None
    last_day: date | None = None

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "plan_code": self.plan_code,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_price_brl": str(self.unit_price_brl),
            "amount_brl": str(self.amount_brl),
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }


@dataclass(frozen=True)
class Invoice:
    period: str
    used: int
    quota: int | None
    overage_events: int
    lines: tuple[InvoiceLine, ...] = field(default_factory=tuple)

    @property
    def total_brl(self) -> Decimal:
        return sum((line.amount_brl for line in self.lines), Decimal("0.00"))

    def as_dict(self) -> dict:
        return {
            "period": self.period,
            "currency": "BRL",
            "rounding": "each line to centavos ROUND_HALF_UP; total = sum of lines",
            "used": self.used,
            "quota": self.quota,
            "overage_events": self.overage_events,
            "lines": [line.as_dict() for line in self.lines],
            "total_brl": str(self.total_brl),
        }


def _day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(days=1)


def invoice(period: str, subscriptions: Sequence[Subscription], used: int) -> Invoice:
    """The invoice of one tenant and period from its subscriptions and its usage (see the module rules)."""
    year, month = parse_period(period)
    days = days_in_period(period)
    runs: list[tuple[Subscription, date, date]] = []
    for d in range(1, days + 1):
        day = date(year, month, d)
        sub = in_force(subscriptions, _day_end(day), strict=True)
        if sub is None:
            continue
        if runs and runs[-1][0] is sub and runs[-1][2] == day - timedelta(days=1):
            runs[-1] = (sub, runs[-1][1], day)
        else:
            runs.append((sub, day, day))
    lines: list[InvoiceLine] = []
    for sub, first, last in runs:
        n = (last - first).days + 1
        base = Decimal(sub.terms.base_price_brl)
        lines.append(
            InvoiceLine(
                "base",
                sub.terms.plan_code,
                f"{sub.terms.plan_name}: {n}/{days} days",
                Decimal(n),
                base / days,
                round_brl(base * n / days),
                first,
                last,
            )
        )
    terms = period_terms(subscriptions, period)
    over = max(0, used - terms.monthly_quota) if terms else 0
    if terms and over:
        price = Decimal(terms.overage_per_1000_brl)
        lines.append(
            InvoiceLine(
                "overage",
                terms.plan_code,
                f"{over} events over the quota of {terms.monthly_quota}",
                Decimal(over),
                price,
                round_brl(Decimal(over) * price / 1000),
            )
        )
    return Invoice(period, used, terms.monthly_quota if terms else None, over, tuple(lines))


def utc_now() -> datetime:
    return datetime.now(UTC)
