"""Deterministic demo traffic: visitors who click, and purchases that match them in known ways.

Pure planning only (no I/O): ``plan_traffic`` decides who clicks with what, and which purchases
should match by session id, by email, by fbclid, probabilistically, or not at all, so the demo
summary can be checked against the plan. Session ids have the snippet's shape (``trackai.core.session_id``),
drawn from the seeded generator so a seed plans the same traffic: only such ids match deterministically. ``trackai_cli.demo`` sends it over HTTP, signed as the
gateways sign.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from trackai.core import session_id

USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/470.0.0.45.70;]",
)
GATEWAYS = ("perfectpay", "hotmart", "kiwify", "stripe")
# How each planned purchase is expected to match (the matcher decides; the plan states intent).
EXPECTED_STAGES = ("session", "email", "fbclid", "probabilistic", "none")
# Gateways whose payload can carry what each kind of match needs (gateways.md §5).
GATEWAYS_FOR = {
    "session": GATEWAYS,  # src/sck/xcod or client_reference_id
    "email": GATEWAYS,
    "fbclid": ("stripe",),  # only Stripe metadata carries fbc
    "probabilistic": ("perfectpay", "kiwify"),  # payloads with the buyer's IP
    "none": GATEWAYS,
}


@dataclass(frozen=True)
class Visitor:
    session_id: str
    ip: str
    user_agent: str
    fbclid: str | None
    fbp: str | None
    landing_url: str
    lead_email: str | None = None  # visitors who filled a lead form


@dataclass(frozen=True)
class PlannedPurchase:
    gateway: str
    order_id: str
    expected: str
    email: str
    phone: str | None
    amount: Decimal
    currency: str
    product_id: str
    event_time: datetime | None = None  # None: stamped when sent, after the visitor's clicks landed
    session_id: str | None = None
    fbc: str | None = None
    client_ip: str | None = None
    refunded: bool = False
    resend: bool = False  # the gateway retries the same delivery


@dataclass
class TrafficPlan:
    visitors: list[Visitor] = field(default_factory=list)
    purchases: list[PlannedPurchase] = field(default_factory=list)
    bad_signatures: int = 0


def plan_traffic(
    tenant_key: str,
    *,
    visitors: int,
    purchases: int,
    now: datetime | None = None,
    seed: int = 7,
    bad_signatures: int = 3,
) -> TrafficPlan:
    rng = random.Random(f"{seed}:{tenant_key}")
    short = tenant_key.replace("-", "")[-6:]  # the tail: demo tenant ids share their first characters
    now = now or datetime.now(UTC)
    plan = TrafficPlan(bad_signatures=bad_signatures)
    for i in range(visitors):
        has_fbclid = rng.random() < 0.7
        fbclid = f"IwAR{short[-4:]}{i:05d}{rng.getrandbits(40):x}" if has_fbclid else None
        session = session_id.PREFIX + "".join(rng.choices(session_id.ALPHABET, k=session_id.RANDOM_LENGTH))
        landing = f"https://{short}.example.com/oferta?utm_source=facebook&utm_campaign=bf"
        if fbclid:
            landing += f"&fbclid={fbclid}"
        plan.visitors.append(
            Visitor(
                session_id=session,
                ip=f"200.{100 + i % 50}.{(i // 50) % 250}.{10 + i % 200}",
                user_agent=USER_AGENTS[i % len(USER_AGENTS)],
                fbclid=fbclid,
                fbp=f"fb.1.{int(now.timestamp() * 1000) - i * 1000}.{rng.randrange(2**31)}"
                if rng.random() < 0.8
                else None,
                landing_url=landing,
            )
        )
    weights = {"session": 0.35, "email": 0.2, "fbclid": 0.15, "probabilistic": 0.15, "none": 0.15}
    fbclid_visitors = [v for v in plan.visitors if v.fbclid]
    for j in range(purchases):
        expected = rng.choices(list(weights), weights=list(weights.values()))[0]
        gateway = GATEWAYS_FOR[expected][j % len(GATEWAYS_FOR[expected])]
        pool = fbclid_visitors if expected == "fbclid" and fbclid_visitors else plan.visitors
        if expected == "email":  # one lead per visitor: a second lead form would overwrite the first
            pool = [v for v in plan.visitors if v.lead_email is None] or plan.visitors
        visitor = pool[rng.randrange(len(pool))]
        email = f"buyer{j}.s{seed}.{short}@example.com"
        purchase = PlannedPurchase(
            gateway=gateway,
            order_id=f"{gateway[:2].upper()}-{short}-{seed}-{j:05d}",
            expected=expected,
            email=email,
            phone=f"+55 (11) 9{rng.randrange(10**7, 10**8)}" if rng.random() < 0.6 else None,
            amount=Decimal(rng.choice(["47.00", "97.00", "197.00", "297.90", "497.00"])),
            currency="BRL",
            product_id=f"curso-{rng.randrange(1, 4)}",
            session_id=visitor.session_id if expected == "session" else None,
            fbc=f"fb.1.{int(now.timestamp() * 1000)}.{visitor.fbclid}" if expected == "fbclid" else None,
            client_ip=visitor.ip
            if expected == "probabilistic"
            else (f"177.{j % 200}.{rng.randrange(250)}.9" if expected == "none" else None),
            refunded=rng.random() < 0.05,
            resend=rng.random() < 0.1,
        )
        if expected == "email":
            index = plan.visitors.index(visitor)
            plan.visitors[index] = Visitor(**{**visitor.__dict__, "lead_email": email})
        plan.purchases.append(purchase)
    return plan
