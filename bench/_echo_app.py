"""The baseline for bench_ingest.py: a bare FastAPI app under the same uvicorn settings as ``trackai serve``.

``POST /echo/{gateway}/{tenant_id}`` reads the raw body and answers ``{"length": <bytes>}``; no
middleware, no database. Run with ``uvicorn --app-dir bench _echo_app:app``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(title="echo")


@app.post("/echo/{gateway}/{tenant_id}")
async def echo(gateway: str, tenant_id: str, request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"length": len(body)})


@app.get("/ready")
async def ready() -> JSONResponse:
    return JSONResponse({"ok": True})
