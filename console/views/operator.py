"""Operators: every tenant at a glance (the explicit RLS bypass, SELECT only), and choosing which tenant's
console to look at (recorded in the audit log by ``console.session_act_as``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from console import queries, web

router = APIRouter()


@router.get("/operator/tenants")
def tenants(request: Request) -> Response:
    user = web.require_user(request)
    if not user.is_operator:
        raise HTTPException(404)
    with web.state(request).database.operator_tx() as conn:
        rows = queries.tenants_overview(conn)
    return web.render(request, "tenants.html", nav="tenants", rows=rows)


@router.post("/operator/act-as")
async def act_as(request: Request) -> Response:
    form = await web.check_csrf(request)
    user = web.require_user(request)
    if not user.is_operator:
        raise HTTPException(404)
    try:
        tenant_id = str(uuid.UUID(str(form.get("tenant_id"))))
    except ValueError as exc:
        raise HTTPException(404) from exc
    with web.state(request).database.auth_tx() as conn:
        ok = conn.execute(
            "SELECT console.session_act_as(%s, %s) AS ok", (web.session_hash(user.session_token), tenant_id)
        ).fetchone()["ok"]
    if not ok:
        raise HTTPException(404)
    return RedirectResponse("/", status_code=303)
