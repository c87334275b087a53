"""The demo's traffic plan: every match stage is exercised, and a rerun sends new orders."""

from __future__ import annotations

from collections import Counter

from trackai.core.session_id import is_session_id
from trackai_cli.demo import FIRST_SEED, FULL, QUICK, next_demo_seed
from trackai_cli.demo_traffic import EXPECTED_STAGES, GATEWAYS, GATEWAYS_FOR, plan_traffic

TENANT = "11111111-1111-4111-8111-111111111111"


def test_full_plan_covers_every_stage_and_gateway_with_retries_and_refunds():
    plan = plan_traffic(TENANT, **FULL)
    stages = Counter(p.expected for p in plan.purchases)
    assert set(stages) == set(EXPECTED_STAGES) and min(stages.values()) >= 10
    assert {p.gateway for p in plan.purchases} == set(GATEWAYS)
    assert all(p.gateway in GATEWAYS_FOR[p.expected] for p in plan.purchases)
    assert any(p.resend for p in plan.purchases) and any(p.refunded for p in plan.purchases)
    assert plan.bad_signatures > 0
    assert len({v.session_id for v in plan.visitors}) == FULL["visitors"]
    assert all(is_session_id(v.session_id) for v in plan.visitors)  # else nothing matches by session
    assert len({v.user_agent for v in plan.visitors}) >= 4 and len({v.ip for v in plan.visitors}) > 100


def test_each_kind_of_purchase_carries_exactly_what_its_match_needs():
    plan = plan_traffic(TENANT, **FULL)
    sessions = {v.session_id for v in plan.visitors}
    lead_emails = {v.lead_email for v in plan.visitors if v.lead_email}
    for p in plan.purchases:
        if p.expected == "session":
            assert p.session_id in sessions
        if p.expected == "email":
            assert p.email in lead_emails and p.session_id is None
        if p.expected == "fbclid":
            assert p.fbc and p.fbc.split(".")[-1] in {v.fbclid for v in plan.visitors}
        if p.expected == "none":
            assert p.session_id is None and p.fbc is None and p.email not in lead_emails


def test_same_seed_same_plan_other_seed_new_orders_and_sessions():
    a, b = plan_traffic(TENANT, seed=7, **QUICK), plan_traffic(TENANT, seed=7, **QUICK)
    assert [p.order_id for p in a.purchases] == [p.order_id for p in b.purchases]
    c = plan_traffic(TENANT, seed=8, **QUICK)
    assert not {p.order_id for p in a.purchases} & {p.order_id for p in c.purchases}
    assert not {v.session_id for v in a.visitors} & {v.session_id for v in c.visitors}


def test_rerun_seed_advances_per_data_folder(tmp_path):
    assert [next_demo_seed(tmp_path) for _ in range(3)] == [FIRST_SEED, FIRST_SEED + 1, FIRST_SEED + 2]
    assert next_demo_seed(tmp_path / "other") == FIRST_SEED
