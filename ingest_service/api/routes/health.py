"""/health (alive), /ready (database reachable and migrations current). Prometheus metrics are not on
this port: they are served by the internal listener (ingest_service.core.metrics_server)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ingest_service.core.deps import state
from ingest_service.core.store import DatabaseUnavailable

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness")
async def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: database reachable and every shipped migration applied",
    responses={503: {"description": "database unreachable or migrations missing (the detail says which)"}},
)
async def ready(request: Request) -> JSONResponse:
    app = state(request)
    try:
        applied = await app.store.applied_migrations()
    except DatabaseUnavailable:
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, status_code=503)
    except Exception as exc:  # e.g. the readiness function itself is missing: migrations not current
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
    missing = sorted(app.expected_migrations - applied)
    if missing:
        return JSONResponse(
            {"status": "unavailable", "detail": f"migrations not applied: {', '.join(missing)}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "migrations": len(applied)})
