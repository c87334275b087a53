"""Pure billing rules: the case table, periods at São Paulo midnight, thresholds, the quota decision."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.billing.cases import CASES, STARTER, TINY, Case, computed, table
from trackai.core import billing as rules


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invoice_case(case: Case) -> None:
    inv = computed(case)
    assert [(ln.kind, ln.plan_code, ln.amount_brl) for ln in inv.lines] == list(case.expected_lines)
    assert inv.total_brl == case.expected_total
    assert all(
        isinstance(ln.amount_brl, Decimal) and ln.amount_brl == ln.amount_brl.quantize(Decimal("0.01"))
        for ln in inv.lines
    )


def test_case_table_prints_expected_and_computed(capsys) -> None:
    print(table())
    out = capsys.readouterr().out
    assert out.count("\n") == len(CASES) + 1


@pytest.mark.parametrize(
    ("ts", "period"),
    [
        (datetime(2026, 12, 1, 2, 59, 59, tzinfo=UTC), "2026-11"),  # 23:59:59 in São Paulo
        (datetime(2026, 12, 1, 3, 0, 0, tzinfo=UTC), "2026-12"),  # midnight in São Paulo
        (datetime(2026, 12, 31, 23, 59, tzinfo=rules.TZ), "2026-12"),
        (datetime(2027, 1, 1, 0, 0, tzinfo=rules.TZ), "2027-01"),
    ],
)
def test_period_rolls_over_at_midnight_in_sao_paulo(ts, period) -> None:
    assert rules.period_of(ts) == period


def test_period_bounds_and_next() -> None:
    start, end = rules.period_bounds("2026-12")
    assert start.astimezone(UTC) == datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2027, 1, 1, 3, tzinfo=UTC)
    assert rules.next_period("2026-12") == "2027-01" and rules.days_in_period("2028-02") == 29
    with pytest.raises(ValueError):
        rules.parse_period("2026-13")


@pytest.mark.parametrize(
    ("used", "new", "terms", "admitted"),
    [
        (998, 5, STARTER, 2),  # quota reached mid-batch: 2 go, 3 held
        (1000, 5, STARTER, 0),
        (1200, 5, STARTER, 0),  # downgrade below usage: nothing more
        (0, 5, STARTER, 5),
        (10, 5, TINY, 5),  # warn: everything goes
        (10, 5, None, 5),  # no plan: not limited
    ],
)
def test_admit(used, new, terms, admitted) -> None:
    assert rules.admit(used, terms, new) == admitted


def test_thresholds_and_state() -> None:
    assert rules.thresholds_reached(7, 10) == []
    assert rules.thresholds_reached(8, 10) == [80]
    assert rules.thresholds_reached(10, 10) == [80, 100]
    assert rules.quota_state(8, TINY) == "warning"
    assert rules.quota_state(11, TINY) == "overage"
    assert rules.quota_state(1000, STARTER) == "at_quota"
    assert rules.quota_state(5, None) == "no_plan"


def test_rounding_is_half_up_to_centavos() -> None:
    assert rules.round_brl(Decimal("0.005")) == Decimal("0.01")
    assert rules.round_brl(Decimal("2.675")) == Decimal("2.68")
    assert rules.round_brl(Decimal("-0.005")) == Decimal("-0.01")
