"""The demo's steps. For now: database ready (migrated) and two demo tenants."""

from __future__ import annotations

import json
import time

from trackai import db, migrations, tenants
from trackai.settings import get_settings

DEMO_TENANTS = (
    # fixed ids so a rerun reuses them; secrets are demo values, never production ones
    {
        "tenant_id": "0d3a1c4e-0000-4000-8000-00000000a001",
        "name": "Demo Cursos Ltda",
        "pixel_id": "100000000000001",
        "meta_token": "demo-meta-token-cursos",
        "gateway_secrets": {
            "perfectpay": "7378fa24f96b38a3b1805d7a6887bc82",
            "hotmart": "demo-hottok-cursos",
            "kiwify": "demo-kiwify-token-cursos",
            "stripe": "whsec_demo_cursos",
        },
    },
    {
        "tenant_id": "0d3a1c4e-0000-4000-8000-00000000b002",
        "name": "Demo Loja Digital",
        "pixel_id": "100000000000002",
        "meta_token": "demo-meta-token-loja",
        "gateway_secrets": {
            "perfectpay": "0c1d2e3f405162738495a6b7c8d9e0f1",
            "hotmart": "demo-hottok-loja",
            "kiwify": "demo-kiwify-token-loja",
            "stripe": "whsec_demo_loja",
        },
    },
)


def ensure_demo_tenants(url: str) -> list[str]:
    with db.connect(url) as conn:
        existing = {t.tenant_id for t in tenants.list_tenants(conn)}
        for spec in DEMO_TENANTS:
            if spec["tenant_id"] not in existing:
                tenants.create_tenant(conn, **spec)
    return [spec["tenant_id"] for spec in DEMO_TENANTS]


def run_demo(quick: bool = False) -> int:
    started = time.perf_counter()
    url = db.database_url(announce=True)
    applied = migrations.upgrade(url, get_settings().sql_dir)
    print(f"[1/2] migrations: {len(applied)} applied, database up to date")
    ids = ensure_demo_tenants(url)
    print(f"[2/2] demo tenants ready: {', '.join(ids)}")
    with db.connect(url) as conn:
        summary = [tenants.describe_tenant(t) for t in tenants.list_tenants(conn) if t.tenant_id in ids]
    print(
        json.dumps({"tenants": [{"tenant_id": s["tenant_id"], "name": s["name"]} for s in summary]}, indent=2)
    )
    print(f"demo finished in {time.perf_counter() - started:.1f}s")
    return 0
