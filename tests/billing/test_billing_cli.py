"""``trackai plan``, ``trackai subscription`` and ``trackai billing`` through the real CLI (in process)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from trackai.billing import ledger
from trackai.core import billing as rules
from trackai.core.event_id import event_id as make_event_id
from trackai_cli.cli import main


@pytest.fixture
def cli(pg_url, setenv, capsys):
    setenv("TRACKAI_DATABASE_URL", pg_url)

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


def test_plan_subscription_invoice_and_reconcile(cli, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    code, out = cli(
        "plan",
        "set",
        "cli-small",
        "--name",
        "CLI Small",
        "--quota",
        "4",
        "--base-price",
        "30.00",
        "--overage-per-1000",
        "7,50",
        "--policy",
        "warn",
    )
    assert code == 0 and json.loads(out)["overage_per_1000_brl"] == "7.50"
    code, out = cli("plan", "list")
    assert code == 0 and "cli-small" in out and "warn" in out
    code, out = cli(
        "subscription", "set", "--tenant", tenant, "--plan", "cli-small", "--at", "2026-09-01T00:00"
    )
    assert code == 0 and json.loads(out)["direction"] == "new"
    assert json.loads(out)["effective_at"] == "2026-09-01T00:00:00-03:00"  # wall clock = São Paulo
    at = datetime(2026, 10, 10, 12, tzinfo=UTC)
    with conn.transaction():
        ledger.record_accepted(conn, [(tenant, make_event_id(tenant, f"c{i}"), at) for i in range(6)], now=at)
    code, out = cli("billing", "invoice", "--tenant", tenant, "--period", "2026-10", "--json")
    inv = json.loads(out)
    assert code == 0 and inv["total_brl"] == "30.02" and inv["overage_events"] == 2  # 2 x 7.50/1000 = 0.015
    code, out = cli("billing", "invoice", "--tenant", tenant, "--period", "2026-10")
    assert code == 0 and "total" in out and "30.02" in out and "ROUND_HALF_UP" in out
    code, out = cli("billing", "close", "--period", "2026-10")
    closed = [r for r in json.loads(out) if r["tenant_id"] == tenant]
    assert code == 0 and closed[0]["issued"] and closed[0]["total_brl"] == "30.02"
    code, out = cli("billing", "close", "--period", "2026-10")
    assert next(r for r in json.loads(out) if r["tenant_id"] == tenant)["issued"] is False  # once
    # the ledger rows above have no dispatch attempts behind them: reconciliation must say so
    code, out = cli("billing", "reconcile", "--period", "2026-10")
    rows = [r for r in json.loads(out) if r["tenant_id"] == tenant]
    assert code == 1 and rows == [
        {"tenant_id": tenant, "period": "2026-10", "billed": 6, "ledger": 6, "accepted": 0, "ok": False}
    ]


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["billing", "invoice", "--tenant", "x", "--period", "2026-13"], 2, "period must be YYYY-MM"),
        (
            [
                "plan",
                "set",
                "p",
                "--name",
                "n",
                "--quota",
                "1",
                "--base-price",
                "-1",
                "--overage-per-1000",
                "1",
                "--policy",
                "warn",
            ],
            2,
            "amounts are BRL",
        ),
        (
            ["subscription", "set", "--tenant", "00000000-0000-0000-0000-000000000000", "--plan", "nope"],
            1,
            "unknown plan",
        ),
    ],
)
def test_bad_input_gets_one_clear_line(cli, capsys, argv, exit_code, message) -> None:
    try:
        code, out = cli(*argv)
    except SystemExit as exc:  # argparse refuses before any handler runs
        code, out = exc.code, capsys.readouterr().err
    assert code == exit_code and message in out and "Traceback" not in out


def test_usage_shows_state(cli, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    cli(
        "plan",
        "set",
        "cli-block",
        "--name",
        "CLI Block",
        "--quota",
        "5",
        "--base-price",
        "10",
        "--overage-per-1000",
        "0",
        "--policy",
        "block",
    )
    cli(
        "subscription",
        "set",
        "--tenant",
        tenant,
        "--plan",
        "cli-block",
        "--at",
        (datetime.now(UTC) - timedelta(days=40)).isoformat(),
    )
    now = datetime.now(UTC)
    with conn.transaction():
        ledger.record_accepted(
            conn, [(tenant, make_event_id(tenant, f"u{i}"), now) for i in range(4)], now=now
        )
    code, out = cli("billing", "usage", "--tenant", tenant)
    got = json.loads(out)
    assert code == 0 and got["period"] == rules.period_of(now)
    assert (got["used"], got["quota"], got["state"]) == (4, 5, "warning")
