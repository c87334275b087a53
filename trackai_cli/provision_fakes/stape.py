"""A Stape API v2 fake (sGTM containers): ``X-AUTH-TOKEN`` auth, answers wrapped in ``{"body": …}``,
errors as ``{"error": {"code", "message"}}``, lists paged with ``page``/``limit`` (``body.items``,
``body.pages``, ``body.total``).

A new container is ``creating`` and becomes ``active`` ``activate_after`` seconds later; with
``stuck=True`` it stays ``creating`` forever (the deadline → rollback case)."""

from __future__ import annotations

import math
import secrets
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackai_cli.provision_fakes.faults import Faults


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status)


class StapeFake:
    def __init__(self, api_key: str, *, activate_after: float = 0.2) -> None:
        self.api_key = api_key
        self.activate_after = activate_after
        self.stuck = False
        self.faults = Faults()
        self.lock = threading.Lock()
        self.containers: dict[str, dict[str, Any]] = {}
        self.created = 0
        self.deleted = 0
        self.app = Starlette(
            routes=[Route("/api/v2/{path:path}", self.handle, methods=["GET", "POST", "PUT", "DELETE"])]
        )

    def view(self, container: dict[str, Any]) -> dict[str, Any]:
        status = container["status"]
        if status == "creating" and not container["stuck"] and time.monotonic() >= container["ready_at"]:
            container["status"] = status = "active"
        return {k: v for k, v in container.items() if k not in ("ready_at", "stuck")} | {
            "status": {"type": status}
        }

    def named(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.containers.values() if c["name"] == name]

    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        response = await self._handle(request, path)
        self.faults.log.append((request.method, path, response.status_code))
        return response

    async def _handle(self, request: Request, path: str) -> Response:
        fault = self.faults.take(request.method, path)
        if fault is not None:
            return await self.faults.answer(
                fault, {"error": {"code": fault.status, "message": "injected fault"}}
            )
        if request.headers.get("x-auth-token") != self.api_key:
            return error(401, "Invalid API key")
        parts = path.strip("/").split("/")
        if parts == ["containers"] and request.method == "GET":
            page = max(int(request.query_params.get("page", 1)), 1)
            limit = min(max(int(request.query_params.get("limit", 20)), 1), 100)
            items = [self.view(c) for c in sorted(self.containers.values(), key=lambda c: c["createdAt"])]
            chunk = items[(page - 1) * limit : page * limit]
            pages = max(math.ceil(len(items) / limit), 1)
            return JSONResponse(
                {"body": {"items": chunk, "total": len(items), "page": page, "limit": limit, "pages": pages}}
            )
        if parts == ["containers"] and request.method == "POST":
            body = await request.json()
            if not body.get("name") or not isinstance(body.get("zone"), dict):
                return error(422, "name and zone.type are required")
            identifier = secrets.token_hex(4)
            container = {
                "identifier": identifier,
                "name": body["name"],
                "zone": body["zone"],
                "domains": [{"name": d.get("name"), "status": "connecting"} for d in body.get("domains", [])],
                "defaultDomain": f"{identifier}.stape.fake",
                "createdAt": time.time(),
                "status": "creating",
                "ready_at": time.monotonic() + self.activate_after,
                "stuck": self.stuck,
            }
            with self.lock:
                self.containers[identifier] = container
                self.created += 1
            return JSONResponse({"body": self.view(container)}, 201)
        if len(parts) == 2 and parts[0] == "containers":
            container = self.containers.get(parts[1])
            if container is None:
                return error(404, "Container not found")
            if request.method == "GET":
                return JSONResponse({"body": self.view(container)})
            if request.method == "DELETE":
                with self.lock:
                    self.containers.pop(parts[1], None)
                    self.deleted += 1
                return Response(status_code=204)
        return error(404, "No route")
