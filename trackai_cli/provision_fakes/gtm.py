"""A Google Tag Manager API v2 fake, with Google's OAuth token endpoint.

* ``POST /token``: the JWT-bearer grant; the assertion must be an RS256 JWT signed by the configured
  service account's key, for this audience, with the Tag Manager edit scope, not expired.
* Every API call needs ``Authorization: Bearer <access token>``; errors are Google's envelope
  ``{"error": {"code", "message", "status", "errors": [{"reason", "message"}]}}``.
* Lists page with ``pageToken``/``nextPageToken`` (two items per page, to exercise paging).
* A new container has a "Default Workspace"; entities (variables, triggers, tags) live in a workspace and
  are tracked as changes (``…/status`` → ``workspaceChange``) until ``:create_version``, which snapshots
  them and clears the changes; ``versions/{id}:publish`` makes a version live.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackai_cli.provision_fakes.faults import Faults

PAGE = 2
KINDS = {
    "variables": ("variable", "variableId"),
    "triggers": ("trigger", "triggerId"),
    "tags": ("tag", "tagId"),
}
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def google_error(status: int, message: str, reason: str = "") -> JSONResponse:
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": STATUS.get(status, "UNKNOWN"),
            "errors": [{"reason": reason or STATUS.get(status, "unknown").lower(), "message": message}],
        }
    }
    return JSONResponse(body, status)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fingerprint() -> str:
    return str(time.time_ns())


class GtmFake:
    def __init__(self, public_key: rsa.RSAPublicKey, client_email: str, token_audience: str) -> None:
        self.public_key = public_key
        self.client_email = client_email
        self.token_audience = token_audience
        self.faults = Faults()
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}  # path -> container
        self.created = 0
        self.deleted = 0
        self.published: list[tuple[str, str]] = []  # (container path, version id)
        self.app = Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/tagmanager/v2/{path:path}", self.handle, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # --- OAuth ---------------------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        fault = self.faults.take("POST", "/token")
        if fault is not None:
            return await self.faults.answer(fault, {"error": "temporarily_unavailable"})
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        try:
            head, claims_b64, signature = str(form.get("assertion", "")).split(".")
            header = json.loads(_unb64(head))
            claims = json.loads(_unb64(claims_b64))
            if header.get("alg") != "RS256":
                raise ValueError("alg")
            self.public_key.verify(
                _unb64(signature), f"{head}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, InvalidSignature, json.JSONDecodeError):
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400
            )
        now = time.time()
        if claims.get("iss") != self.client_email or claims.get("aud") != self.token_audience:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid issuer or audience."}, 400
            )
        if not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0):
            return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT: expired."}, 400)
        if (
            "https://www.googleapis.com/auth/tagmanager.edit.containers"
            not in str(claims.get("scope", "")).split()
        ):
            return JSONResponse({"error": "invalid_scope"}, 400)
        access = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(access)
        return JSONResponse({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    # --- API -----------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        response = await self._handle(request, path)
        self.faults.log.append((request.method, "/" + path, response.status_code))
        return response

    def _paged(self, items: list[dict[str, Any]], key: str, request: Request) -> JSONResponse:
        start = int(request.query_params.get("pageToken") or 0)
        body: dict[str, Any] = {key: items[start : start + PAGE]}
        if start + PAGE < len(items):
            body["nextPageToken"] = str(start + PAGE)
        return JSONResponse(body)

    async def _handle(self, request: Request, path: str) -> Response:
        fault = self.faults.take(request.method, "/" + path)
        if fault is not None:
            status = fault.status
            default = {
                "error": {"code": status, "message": "injected", "status": STATUS.get(status, "UNKNOWN")}
            }
            return await self.faults.answer(fault, default)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return google_error(401, "Request had invalid authentication credentials.", "authError")
        method = request.method
        body = await request.json() if method in ("POST", "PUT") and await request.body() else {}
        parts = path.split("/")
        # accounts/{a}/containers
        if len(parts) == 3 and parts[0] == "accounts" and parts[2] == "containers":
            account = parts[1]
            if method == "GET":
                items = [c["public"] for c in self.containers.values() if c["public"]["accountId"] == account]
                return self._paged(items, "container", request)
            return self._create_container(account, body)
        if len(parts) < 4 or parts[0] != "accounts" or parts[2] != "containers":
            return google_error(404, "Not found")
        container_path = "/".join(parts[:4])
        # accounts/{a}/containers/{c}/versions:live and versions/{v}:publish
        if parts[3].endswith(":live") or (len(parts) == 5 and parts[4] == "versions:live"):
            container_path = "/".join(parts[:4])
        container = self.containers.get(container_path)
        if container is None:
            return google_error(404, f"Not found: {container_path}", "notFound")
        rest = parts[4:]
        if not rest:
            if method == "GET":
                return JSONResponse(container["public"])
            if method == "DELETE":
                with self.lock:
                    self.containers.pop(container_path, None)
                    self.deleted += 1
                return Response(status_code=204)
        if rest == ["workspaces"]:
            if method == "GET":
                return self._paged(
                    [w["public"] for w in container["workspaces"].values()], "workspace", request
                )
            return JSONResponse(self._create_workspace(container, body.get("name", "Workspace"))["public"])
        if rest == ["version_headers"]:
            headers = [
                {"path": v["path"], "containerVersionId": v["containerVersionId"], "name": v["name"]}
                for v in container["versions"].values()
            ]
            return self._paged(headers, "containerVersionHeader", request)
        if rest == ["versions:live"]:
            live = container["live"]
            return (
                JSONResponse(container["versions"][live])
                if live
                else google_error(404, "No live version", "notFound")
            )
        if len(rest) == 2 and rest[0] == "versions" and rest[1].endswith(":publish") and method == "POST":
            version_id = rest[1].split(":")[0]
            if version_id not in container["versions"]:
                return google_error(404, "Version not found", "notFound")
            container["live"] = version_id
            self.published.append((container_path, version_id))
            return JSONResponse(
                {"containerVersion": container["versions"][version_id], "compilerError": False}
            )
        if len(rest) >= 2 and rest[0] == "workspaces":
            ws_id, _, action = rest[1].partition(":")
            workspace = container["workspaces"].get(ws_id)
            if workspace is None:
                return google_error(404, "Workspace not found", "notFound")
            if action == "create_version" and method == "POST" and len(rest) == 2:
                return JSONResponse(
                    {
                        "containerVersion": self._create_version(container, workspace, body),
                        "compilerError": False,
                    }
                )
            if rest[2:] == ["status"]:
                return JSONResponse(
                    {
                        "workspaceChange": [
                            {"changeStatus": status, KINDS[kind][0]: workspace["entities"][kind][eid]}
                            for (kind, eid), status in sorted(workspace["changes"].items())
                            if eid in workspace["entities"][kind]
                        ]
                    }
                )
            if len(rest) >= 3 and rest[2] in KINDS:
                return self._entity(workspace, rest[2], rest[3:], method, body, request)
        return google_error(404, "Not found")

    def _create_container(self, account: str, body: dict[str, Any]) -> JSONResponse:
        if not body.get("name") or not body.get("usageContext"):
            return google_error(400, "Container name and usageContext are required", "invalid")
        with self.lock:
            if any(
                c["public"]["name"] == body["name"] and c["public"]["accountId"] == account
                for c in self.containers.values()
            ):
                return google_error(400, "Found entity with duplicate name", "duplicateName")
            container_id = str(10000000 + len(self.containers) + self.created * 7)
            path = f"accounts/{account}/containers/{container_id}"
            public = {
                "path": path,
                "accountId": account,
                "containerId": container_id,
                "name": body["name"],
                "domainName": body.get("domainName", []),
                "usageContext": body["usageContext"],
                "publicId": "GTM-" + hashlib.sha256(path.encode()).hexdigest()[:7].upper(),
                "fingerprint": _fingerprint(),
            }
            container = {"public": public, "workspaces": {}, "versions": {}, "live": None, "next_id": 1}
            self.containers[path] = container
            self.created += 1
            self._create_workspace(container, "Default Workspace")
        return JSONResponse(public)

    def _create_workspace(self, container: dict[str, Any], name: str) -> dict[str, Any]:
        ws_id = str(len(container["workspaces"]) + 1)
        public = {
            "path": f"{container['public']['path']}/workspaces/{ws_id}",
            "workspaceId": ws_id,
            "name": name,
            "accountId": container["public"]["accountId"],
            "containerId": container["public"]["containerId"],
            "fingerprint": _fingerprint(),
        }
        workspace = {"public": public, "entities": {k: {} for k in KINDS}, "changes": {}}
        container["workspaces"][ws_id] = workspace
        return workspace

    def _entity(self, workspace, kind, rest, method, body, request) -> Response:
        key, id_field = KINDS[kind]
        entities = workspace["entities"][kind]
        if not rest:
            if method == "GET":
                return self._paged(list(entities.values()), key, request)
            if not body.get("name") or not body.get("type"):
                return google_error(400, f"{key} name and type are required", "invalid")
            if any(e["name"] == body["name"] for e in entities.values()):
                return google_error(400, "Found entity with duplicate name", "duplicateName")
            entity_id = str(len(entities) + 1)
            entity = {
                **body,
                id_field: entity_id,
                "path": f"{workspace['public']['path']}/{kind}/{entity_id}",
                "fingerprint": _fingerprint(),
            }
            entities[entity_id] = entity
            workspace["changes"][(kind, entity_id)] = "added"
            return JSONResponse(entity)
        entity = entities.get(rest[0])
        if entity is None:
            return google_error(404, f"{key} not found", "notFound")
        if method == "GET":
            return JSONResponse(entity)
        if method == "PUT":
            if request.query_params.get("fingerprint") not in (None, "", entity["fingerprint"]):
                return google_error(409, "Fingerprint does not match", "fingerprintMismatch")
            entity.update({k: v for k, v in body.items() if k not in (id_field, "path")})
            entity["fingerprint"] = _fingerprint()
            workspace["changes"].setdefault((kind, rest[0]), "updated")
            return JSONResponse(entity)
        return google_error(404, "Not found")

    def _create_version(self, container, workspace, body) -> dict[str, Any]:
        version_id = str(container["next_id"])
        container["next_id"] += 1
        version = {
            "path": f"{container['public']['path']}/versions/{version_id}",
            "containerVersionId": version_id,
            "name": body.get("name", ""),
            "description": body.get("notes", ""),
            **{k: list(workspace["entities"][k].values()) for k in KINDS},
            "fingerprint": _fingerprint(),
        }
        container["versions"][version_id] = version
        workspace["changes"].clear()
        return version
