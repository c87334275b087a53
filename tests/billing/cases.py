"""The billing case table (issue 18): plans, subscriptions and usage in, expected invoice out (BRL, Decimal).

Expected amounts are worked by hand from the rules in trackai/core/billing.py (docs/billing.md); the test
computes them with ``trackai.core.billing.invoice`` and compares line by line. ``python -m tests.billing.cases``
prints the table with both columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trackai.core import billing as rules

D = Decimal
SP = rules.TZ

STARTER = rules.Terms("starter", "Starter", 1_000, D("49.90"), D("30.00"), "block")
GROWTH = rules.Terms("growth", "Growth", 10_000, D("199.00"), D("25.00"), "warn")
TINY = rules.Terms("tiny", "Tiny", 10, D("9.90"), D("5.00"), "warn")
BEFORE = datetime(2026, 10, 15, 9, 0, tzinfo=SP)


def sub(terms: rules.Terms, at: datetime) -> rules.Subscription:
    return rules.Subscription(terms, at)


@dataclass(frozen=True)
class Case:
    name: str
    subscriptions: tuple[rules.Subscription, ...]
    used: int
    expected_lines: tuple[tuple[str, str, D], ...]  # (kind, plan_code, amount)
    expected_total: D
    period: str = "2026-11"  # 30 days


CASES = [
    Case("within quota", (sub(STARTER, BEFORE),), 800, (("base", "starter", D("49.90")),), D("49.90")),
    Case(
        "overage (warn plan)",
        (sub(GROWTH, BEFORE),),
        12_345,
        (("base", "growth", D("199.00")), ("overage", "growth", D("58.63"))),  # 2,345 x 25/1000 = 58.625
        D("257.63"),
    ),
    Case(
        "quota reached mid-batch, block plan: exactly the quota",
        (sub(STARTER, BEFORE),),
        1_000,
        (("base", "starter", D("49.90")),),
        D("49.90"),
    ),
    Case(
        "upgrade on day 16 (block then upgrade)",
        (sub(STARTER, BEFORE), sub(GROWTH, datetime(2026, 11, 16, 10, 0, tzinfo=SP))),
        1_500,
        (("base", "starter", D("24.95")), ("base", "growth", D("99.50"))),  # 15/30 of each
        D("124.45"),
    ),
    Case(
        "downgrade on day 21 below current usage",
        (sub(GROWTH, BEFORE), sub(STARTER, datetime(2026, 11, 21, 0, 0, tzinfo=SP))),
        1_800,
        (
            ("base", "growth", D("132.67")),  # 199 x 20/30 = 132.666...
            ("base", "starter", D("16.63")),  # 49.90 x 10/30 = 16.633...
            ("overage", "starter", D("24.00")),  # 800 x 30/1000
        ),
        D("173.30"),
    ),
    Case(
        "first subscription on day 10",
        (sub(STARTER, datetime(2026, 11, 10, 12, 0, tzinfo=SP)),),
        10,
        (("base", "starter", D("34.93")),),  # 49.90 x 21/30 = 34.93
        D("34.93"),
    ),
    Case(
        "rounding half up: one event over at R$ 5.00 per 1,000",
        (sub(TINY, BEFORE),),
        11,
        (("base", "tiny", D("9.90")), ("overage", "tiny", D("0.01"))),  # 0.005 -> 0.01 (half even: 0.00)
        D("9.91"),
    ),
    Case(
        "change at 23:59 São Paulo on the last day counts for that day",
        (sub(TINY, BEFORE), sub(STARTER, datetime(2026, 11, 30, 23, 59, tzinfo=SP))),
        12,
        (
            ("base", "tiny", D("9.57")),
            ("base", "starter", D("1.66")),
        ),  # 9.90 x 29/30 = 9.57; 49.90/30 = 1.663
        D("11.23"),
    ),
    Case("no subscription: nothing billed", (), 50, (), D("0.00")),
]


def computed(case: Case) -> rules.Invoice:
    return rules.invoice(case.period, case.subscriptions, case.used)


def table() -> str:
    rows = [f"{'case':62} {'used':>7} {'expected':>10} {'computed':>10}  lines (computed)"]
    for case in CASES:
        inv = computed(case)
        lines = ", ".join(f"{ln.kind}:{ln.plan_code} {ln.amount_brl}" for ln in inv.lines) or "-"
        rows.append(
            f"{case.name:62} {case.used:>7} {case.expected_total!s:>10} {inv.total_brl!s:>10}  {lines}"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
