"""Failures: the DLQ with reasons in plain words and what to do; replay one, a selection, or all since a
day (console/replay.py: the library's replay path, never a second copy), and each replay's outcome page,
which follows the events until the dispatcher has sent them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from console import queries, replay, web

router = APIRouter()
REASONS = ("invalid", "meta_rejected", "expired", "token", "quota")
EVENT_ID_LENGTH = 64


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value or "|" not in value:
        return None
    when, _, event_id = value.partition("|")
    try:
        return datetime.fromisoformat(when), event_id[:EVENT_ID_LENGTH]
    except ValueError:
        return None


def _failures_context(request: Request, tenant_id: str, after: str | None) -> dict:
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        counts = queries.dlq_counts(conn, tenant_id)
        rows, cursor = queries.dlq_page(conn, tenant_id, _cursor(after), s.settings.console.page_size)
        replays = queries.recent_replays(conn, tenant_id)
    next_url = f"/failures?{urlencode({'after': f'{cursor[0].isoformat()}|{cursor[1]}'})}" if cursor else None
    return {"counts": counts, "reasons": REASONS, "rows": rows, "replays": replays, "next_url": next_url}


@router.get("/failures")
def failures(request: Request, after: str | None = None) -> Response:
    _, tenant_id = web.require_tenant(request)
    return web.render(
        request, "failures.html", nav="failures", **_failures_context(request, tenant_id, after)
    )


@router.get("/failures/live")
def failures_live(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        counts = queries.dlq_counts(conn, tenant_id)
    return web.render(request, "_failures_live.html", counts=counts, reasons=REASONS)


@router.post("/failures/replay")
async def replay_events(request: Request) -> Response:
    form = await web.check_csrf(request)
    user, tenant_id = web.require_tenant(request)
    s = web.state(request)
    one = form.get("one")
    selected = form.get("event_ids") or []
    selected = [selected] if isinstance(selected, str) else list(selected)
    event_ids = [one] if isinstance(one, str) and one else selected
    event_ids = [e for e in event_ids if isinstance(e, str) and len(e) == EVENT_ID_LENGTH][:1000]
    since = None
    if not event_ids and form.get("since"):
        try:
            day = date.fromisoformat(str(form.get("since")))
        except ValueError as exc:
            raise web.BadRequest(str(form.get("since"))[:20]) from exc
        since = datetime.combine(day, datetime.min.time(), ZoneInfo(s.settings.console.timezone))
    if not event_ids and since is None:
        return RedirectResponse("/failures?nothing=1", status_code=303)
    with s.database.tenant_tx(tenant_id) as conn:
        outcome = replay.replay(
            conn,
            tenant_id=tenant_id,
            user_id=user.user_id,
            user_email=user.email,
            event_ids=event_ids,
            since=since,
        )
    return RedirectResponse(f"/failures/replays/{outcome.audit_id}", status_code=303)


def _replay_context(request: Request, tenant_id: str, audit_id: int) -> dict:
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        record = queries.replay_record(conn, tenant_id, audit_id)
        if record is None:
            raise HTTPException(404)
        detail = record["detail"]
        events = queries.states_of_events(conn, tenant_id, list(detail.get("replayed") or []))
    return {
        "record": record,
        "detail": detail,
        "events": events,
        "live_url": f"/failures/replays/{audit_id}/live",
        "now": datetime.now(UTC),
    }


@router.get("/failures/replays/{audit_id}")
def replay_outcome(request: Request, audit_id: int) -> Response:
    _, tenant_id = web.require_tenant(request)
    return web.render(request, "replay.html", nav="failures", **_replay_context(request, tenant_id, audit_id))


@router.get("/failures/replays/{audit_id}/live")
def replay_outcome_live(request: Request, audit_id: int) -> Response:
    _, tenant_id = web.require_tenant(request)
    return web.render(request, "_replay_live.html", **_replay_context(request, tenant_id, audit_id))
