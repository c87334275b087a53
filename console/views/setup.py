"""Setup: the webhook URL of each gateway (copy buttons) with the events to enable and its secret status,
the tracking snippet per checkout platform, and the Meta pixel and token status. Secrets are never shown:
only whether one is stored and when it changed."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import queries, setup_guide, web
from trackai import tenants

router = APIRouter()
PLATFORMS = ("hotmart", "kiwify", "perfectpay", "stripe")


@router.get("/setup")
def setup(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        account = queries.tenant_setup(conn, tenant_id)
        rejections = queries.webhook_rejections(conn, tenant_id)
    base = s.settings.public_base_url.rstrip("/")
    snippet_src = f"{base}/api/v1/snippet/{tenant_id}.js"
    snippets = [(None, f'<script async src="{snippet_src}"></script>')] + [
        (p, f'<script async src="{snippet_src}?platform={p}"></script>') for p in PLATFORMS
    ]
    events = setup_guide.events_to_enable()
    changed = {
        k: datetime.fromisoformat(v) for k, v in ((account or {}).get("secrets_updated_at") or {}).items()
    }
    gateways = [
        {
            "gateway": g,
            "url": tenants.webhook_url(tenant_id, g, s.settings),
            "events": events[g],
            "secret_updated_at": changed.get(g),
            "rejections": [r for r in rejections if r["gateway"] == g],
        }
        for g in tenants.GATEWAYS
    ]
    return web.render(
        request,
        "setup.html",
        nav="setup",
        account=account,
        gateways=gateways,
        snippets=snippets,
        meta_token_at=changed.get("meta_token"),
    )
