"""Purchases: every purchase with its state, searchable by order id or buyer e-mail/phone, filtered by
gateway / match / sending state / purchase day, paginated by keyset; and each purchase's journey.

The buyer search is a POST: the e-mail or phone is hashed here exactly as ingest hashes it
(trackai.core.pii) and the list is then addressed by the hash (``?email=<sha256>``), so the typed text
never appears in a URL, a log line or the database."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from console import queries, web
from trackai.core import pii

router = APIRouter()


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _hash(value: str | None) -> str | None:
    return value if value and pii.is_sha256_hex(value) else None


@router.get("/purchases")
def purchases(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    q = request.query_params
    filters = queries.PurchaseFilters(
        gateway=q.get("gateway") if q.get("gateway") in queries.GATEWAYS else None,
        match=q.get("match") if q.get("match") in (*queries.STAGES, "unmatched") else None,
        state=q.get("state") if q.get("state") in queries.DISPATCH_STATES else None,
        day_from=_date(q.get("from")),
        day_to=_date(q.get("to")),
        order_id=(q.get("order") or "").strip()[:200] or None,
        email_hash=_hash(q.get("email")),
        phone_hash=_hash(q.get("phone")),
    )
    with s.database.tenant_tx(tenant_id) as conn:
        rows, cursor = queries.purchases_page(
            conn,
            tenant_id,
            filters,
            queries.decode_cursor(q.get("after"), filters.state),
            s.settings.console.page_size,
        )
    kept = {k: v for k, v in q.items() if k != "after" and v}
    next_url = f"/purchases?{urlencode({**kept, 'after': queries.encode_cursor(cursor)})}" if cursor else None
    search_kind = queries.Search(filters.order_id, filters.email_hash, filters.phone_hash).kind
    return web.render(
        request,
        "purchases.html",
        nav="purchases",
        rows=rows,
        filters=filters,
        next_url=next_url,
        first_url=f"/purchases?{urlencode(kept)}" if q.get("after") else None,
        search_kind=search_kind,
        search_error=q.get("search_error") == "1",
        gateways=queries.GATEWAYS,
        stages=queries.STAGES,
        states=queries.DISPATCH_STATES,
    )


@router.post("/purchases/search")
async def search(request: Request) -> Response:
    form = await web.check_csrf(request)
    web.require_tenant(request)
    found = queries.classify_search(str(form.get("q") or ""))
    params = {}
    if found.email_hash:
        params["email"] = found.email_hash
    if found.phone_hash:
        params["phone"] = found.phone_hash
    if found.order_id:
        params["order"] = found.order_id
    if not params:
        params["search_error"] = "1"
    return RedirectResponse(f"/purchases?{urlencode(params)}", status_code=303)


@router.get("/purchases/{gateway}/{order_id:path}")
def purchase(request: Request, gateway: str, order_id: str) -> Response:
    _, tenant_id = web.require_tenant(request)
    if gateway not in queries.GATEWAYS:
        raise HTTPException(404)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        found = queries.journey(conn, tenant_id, gateway, order_id[:200], s.settings.match.lookback_days + 1)
    if found is None:
        raise HTTPException(404)
    return web.render(request, "purchase.html", nav="purchases", **found)
