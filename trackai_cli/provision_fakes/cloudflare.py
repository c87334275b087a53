"""A Cloudflare API v4 fake (zones, DNS records) as documented at developers.cloudflare.com/api.

* Auth: ``Authorization: Bearer <token>``; a wrong or missing token answers 403 with code 10000
  ("Authentication error").
* Every answer is the v4 envelope ``{"success", "errors": [{"code", "message"}], "messages", "result",
  "result_info"}``; lists page with ``page``/``per_page`` and ``result_info`` {page, per_page, count,
  total_count, total_pages}.
* ``name`` filters accept the plain form and the SDK's ``name.exact=`` form.
* Creating a CNAME on a name that already has one answers 400, code 81053 (Cloudflare's duplicate rule).
"""

from __future__ import annotations

import math
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackai_cli.provision_fakes.faults import Faults

PREFIX = "/client/v4"


def envelope(
    result: Any, *, success: bool = True, errors: list | None = None, info: dict | None = None
) -> dict:
    body: dict[str, Any] = {"success": success, "errors": errors or [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return body


def error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(envelope(None, success=False, errors=[{"code": code, "message": message}]), status)


class CloudflareFake:
    def __init__(self, token: str, zones: list[str]) -> None:
        self.token = token
        self.faults = Faults()
        self.lock = threading.Lock()
        self.zones = {secrets.token_hex(16): name for name in zones}
        self.records: dict[str, dict[str, Any]] = {}  # record id -> record (with zone_id)
        self.created = 0
        self.deleted = 0
        self.app = Starlette(
            routes=[
                Route(PREFIX + "/{path:path}", self.handle, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
            ]
        )

    def records_named(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["name"] == name]

    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        response = await self._handle(request, path)
        self.faults.log.append((request.method, path, response.status_code))
        return response

    async def _handle(self, request: Request, path: str) -> Response:
        fault = self.faults.take(request.method, path)
        if fault is not None:
            default = envelope(
                None, success=False, errors=[{"code": 10000 + fault.status, "message": "injected"}]
            )
            if fault.status == 429:
                default["errors"] = [
                    {"code": 971, "message": "Please wait and consider throttling your request speed"}
                ]
            return await self.faults.answer(fault, default)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(403, 10000, "Authentication error")
        parts = path.strip("/").split("/")
        query = request.query_params
        if parts == ["zones"] and request.method == "GET":
            items = [
                {"id": zid, "name": name, "status": "active"}
                for zid, name in sorted(self.zones.items(), key=lambda z: z[1])
            ]
            if query.get("name"):
                items = [z for z in items if z["name"] == query["name"]]
            return self._page(items, query)
        if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
            zone_id = parts[1]
            if zone_id not in self.zones:
                return error(
                    404, 7003, "Could not route to /zones/..., perhaps your object identifier is invalid?"
                )
            if len(parts) == 3 and request.method == "GET":
                items = [r for r in self.records.values() if r["zone_id"] == zone_id]
                name = query.get("name.exact") or query.get("name")
                if name:
                    items = [r for r in items if r["name"] == name.lower()]
                if query.get("type"):
                    items = [r for r in items if r["type"] == query["type"]]
                return self._page(sorted(items, key=lambda r: r["created_on"]), query)
            if len(parts) == 3 and request.method == "POST":
                return self._create(zone_id, await request.json())
            if len(parts) == 4:
                record = self.records.get(parts[3])
                if record is None or record["zone_id"] != zone_id:
                    return error(404, 81044, "Record does not exist.")
                if request.method == "GET":
                    return JSONResponse(envelope(record))
                if request.method in ("PATCH", "PUT"):
                    body = await request.json()
                    record.update(
                        {k: body[k] for k in ("name", "type", "content", "proxied", "ttl") if k in body}
                    )
                    record["modified_on"] = _now()
                    return JSONResponse(envelope(record))
                if request.method == "DELETE":
                    with self.lock:
                        self.records.pop(record["id"], None)
                        self.deleted += 1
                    return JSONResponse(envelope({"id": record["id"]}))
        return error(404, 7000, "No route for that URI")

    def _create(self, zone_id: str, body: dict[str, Any]) -> Response:
        missing = [k for k in ("name", "type", "content") if not body.get(k)]
        if missing:
            return error(400, 9000, f"DNS record missing {', '.join(missing)}")
        name = str(body["name"]).lower()
        with self.lock:
            if body["type"] == "CNAME" and self.records_named(name):
                return error(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
            record = {
                "id": secrets.token_hex(16),
                "zone_id": zone_id,
                "zone_name": self.zones[zone_id],
                "name": name,
                "type": body["type"],
                "content": body["content"],
                "proxied": bool(body.get("proxied", False)),
                "proxiable": True,
                "ttl": int(body.get("ttl", 1)),
                "comment": body.get("comment"),
                "created_on": _now(),
                "modified_on": _now(),
            }
            self.records[record["id"]] = record
            self.created += 1
        return JSONResponse(envelope(record))

    @staticmethod
    def _page(items: list[dict[str, Any]], query) -> JSONResponse:
        page = max(int(float(query.get("page", 1))), 1)
        per_page = min(max(int(float(query.get("per_page", 20))), 5), 100)
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(items),
            "total_pages": max(math.ceil(len(items) / per_page), 1),
        }
        return JSONResponse(envelope(chunk, info=info))


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
