"""A small but real world for the console's tests: two tenants whose traffic goes the whole way.

Clicks and signed webhooks go through the ingest app (as trackai_app_rw), the micro-batch folds and matches
them (trackai.pipeline.batch), dispatch sends them to the Graph API fake (which refuses two of tenant A's
events, so they land in the DLQ with Meta's code 100), the fake's Dataset Quality API scores the tenants,
and dbt builds the console marts. Nothing is inserted behind the pipeline's back.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from dagster_project.lib import dbt_runner
from ingest_service.main import create_app as create_ingest_app
from trackai import db, tenants
from trackai.console_data import meta_quality, users
from trackai.dispatch import run_dispatch
from trackai.pipeline.batch import run_batch
from trackai.settings import Settings
from trackai_cli.capi_mock import MockConfig, MockServer
from trackai_cli.demo_traffic import PlannedPurchase, plan_traffic
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

PASSWORD = "correct horse battery staple"


@dataclass
class SeededTenant:
    tenant_id: str
    name: str
    pixel_id: str
    email: str  # the seller's login
    purchases: list[PlannedPurchase] = field(default_factory=list)
    dlq_event_ids: list[str] = field(default_factory=list)


@dataclass
class World:
    url: str
    a: SeededTenant
    b: SeededTenant
    operator_email: str
    fake: MockServer


def _post_traffic(
    client: TestClient, tenant_id: str, secrets: dict, visitors: int, buyers: int, seed: int
) -> list:
    plan = plan_traffic(tenant_id, visitors=visitors, purchases=buyers, seed=seed, bad_signatures=0)
    for v in plan.visitors:
        headers = {"User-Agent": v.user_agent, "X-Forwarded-For": v.ip}
        body = {
            "tenant_id": tenant_id,
            "session_id": v.session_id,
            "event_type": "click",
            "landing_url": v.landing_url,
            "fbp": v.fbp,
        }
        assert client.post("/api/v1/track/click", json=body, headers=headers).status_code == 202
        if v.lead_email:
            lead = {**body, "event_type": "lead", "email": v.lead_email}
            assert client.post("/api/v1/track/click", json=lead, headers=headers).status_code == 202
    for p in plan.purchases:
        statuses = ["approved", *(["refunded"] if p.refunded else [])]
        for status in statuses:
            payload = build_payload(
                p.gateway,
                order_id=p.order_id,
                status=status,
                email=p.email,
                phone=p.phone,
                session_id=p.session_id,
                amount=p.amount,
                currency=p.currency,
                event_time=p.event_time,
                product_id=p.product_id,
                fbc=p.fbc,
                client_ip=p.client_ip,
                event_uid=f"{p.order_id}-{status}",
            )
            headers, query, raw = sign_request(p.gateway, secrets[p.gateway], json.dumps(payload).encode())
            response = client.post(
                f"/api/v1/webhooks/{p.gateway}/{tenant_id}", content=raw, headers=headers, params=query
            )
            assert response.status_code == 200, response.text
    return plan.purchases


def build_world(url: str, *, visitors: int = 60, buyers: int = 24) -> World:
    """Seed two tenants end to end; returns the world with the fake still running (stop it after)."""
    seeded = []
    with db.connect(url) as conn:
        for name, pixel in (("Loja Alfa", "111111111111111"), ("Loja Beta", "222222222222222")):
            tenant_id, secrets = tenants.create_tenant_with_every_gateway(conn, name, pixel_id=pixel)
            full_name = tenants.list_tenants(conn)[-1].name
            seeded.append((tenant_id, full_name, pixel, secrets))
    ingest = create_ingest_app(Settings(), database_url=db.with_user(url, "trackai_app_rw"))
    with TestClient(ingest, client=("127.0.0.1", 50000)) as client:
        planned = [
            _post_traffic(client, t, s, visitors, buyers, seed=11 + i)
            for i, (t, _, _, s) in enumerate(seeded)
        ]
    run_batch(url, mode="incremental")
    with db.connect(url) as conn:
        a_events = [
            r[0]
            for r in conn.execute(
                "SELECT event_id FROM core.purchases WHERE tenant_id = %s AND approved_at IS NOT NULL ORDER BY order_id LIMIT 2",
                (seeded[0][0],),
            ).fetchall()
        ]
    fake = MockServer(MockConfig(reject_event_ids=a_events)).start()
    settings = Settings(meta_graph_url=fake.url)
    with db.connect(url) as conn:
        run_dispatch(conn, settings, sleep=lambda s: None)
        meta_quality.pull_all(conn, settings)
        world_tenants = []
        for (tenant_id, name, pixel, _), purchases, key in zip(seeded, planned, "ab", strict=True):
            email = f"seller-{key}@example.com"
            users.create_user(conn, email=email, tenant_id=tenant_id, password=PASSWORD)
            world_tenants.append(SeededTenant(tenant_id, name, pixel, email, purchases))
        users.create_user(conn, email="operator@example.com", role="operator", password=PASSWORD)
    world_tenants[0].dlq_event_ids = a_events
    build_marts(url)
    return World(url, world_tenants[0], world_tenants[1], "operator@example.com", fake)


def build_marts(url: str) -> None:
    with tempfile.TemporaryDirectory() as target:
        dbt_runner.build(url, select="path:models/marts/console", target_path=target, capture=True)


def today() -> str:
    return datetime.now(UTC).date().isoformat()
