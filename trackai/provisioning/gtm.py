"""Google Tag Manager API v2 over httpx with service-account auth.

Auth: the OAuth 2.0 JWT-bearer grant. A JWT (RS256, signed with the service account's private key through
``cryptography``) asserting the Tag Manager scopes is exchanged at the token endpoint (the key's
``token_uri``, or TRACKAI_PROVISION_GTM_TOKEN_URL) for an access token sent as ``Authorization: Bearer``.
Errors come as Google's envelope ``{"error": {"code", "message", "status"}}``; lists page with
``pageToken``/``nextPageToken``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trackai.provisioning import http
from trackai.provisioning.errors import ApiError, ConfigurationMissing

SERVICE = "gtm"
SCOPES = (
    "https://www.googleapis.com/auth/tagmanager.edit.containers",
    "https://www.googleapis.com/auth/tagmanager.edit.containerversions",
    "https://www.googleapis.com/auth/tagmanager.publish",
    "https://www.googleapis.com/auth/tagmanager.delete.containers",
)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ENTITY_KINDS = {"variables": "variable", "triggers": "trigger", "tags": "tag"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def service_account_jwt(key: dict[str, Any], audience: str, now: float | None = None) -> str:
    """The signed assertion of Google's JWT-bearer grant for ``key`` (a service-account key JSON)."""
    for field in ("client_email", "private_key"):
        if not key.get(field):
            raise ConfigurationMissing(f"the GTM service-account key has no {field}")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if key.get("private_key_id"):
        header["kid"] = key["private_key_id"]
    claims = {
        "iss": key["client_email"],
        "scope": " ".join(SCOPES),
        "aud": audience,
        "iat": issued,
        "exp": issued + 3600,
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ConfigurationMissing("the GTM service-account key is not an RSA key")
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.reason_phrase
    if isinstance(error, dict):
        return f"{error.get('status', '')} {error.get('message', '')}".strip()
    return str(error or response.reason_phrase)


class GtmClient:
    def __init__(
        self,
        service_account: dict[str, Any],
        base_url: str,
        *,
        token_url: str = "",
        timeout: float = 10.0,
        max_retries: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = service_account
        self.token_url = (
            token_url or service_account.get("token_uri") or "https://oauth2.googleapis.com/token"
        )
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep
        self._token: tuple[str, float] | None = None

    def close(self) -> None:
        self.http.close()

    def _access_token(self) -> str:
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        assertion = service_account_jwt(self.key, self.token_url)
        response = http.request(
            self.http,
            SERVICE,
            "POST",
            self.token_url,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            error_message=_message,
            sleep=self.sleep,
            data={"grant_type": JWT_GRANT, "assertion": assertion},
        )
        body = response.json()
        self._token = (body["access_token"], time.time() + float(body.get("expires_in", 3600)))
        return self._token[0]

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self._access_token()}"}
            try:
                return http.request(
                    self.http,
                    SERVICE,
                    method,
                    path,
                    max_retries=self.max_retries,
                    max_wait=self.max_wait,
                    error_message=_message,
                    sleep=self.sleep,
                    headers=headers,
                    **kwargs,
                )
            except ApiError as exc:
                if exc.status != 401 or fresh:
                    raise
                self._token = None  # revoked or expired early: one new token, one more try
        raise AssertionError("unreachable")

    def _pages(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            body = self._call("GET", path, params={"pageToken": token} if token else None).json()
            yield from body.get(key, [])
            token = body.get("nextPageToken")
            if not token:
                return

    # --- containers --------------------------------------------------------------------------------
    def find_container(self, account_id: str, name: str) -> dict[str, Any] | None:
        return next(
            (
                c
                for c in self._pages(f"/accounts/{account_id}/containers", "container")
                if c.get("name") == name
            ),
            None,
        )

    def create_container(self, account_id: str, name: str, domain: str) -> dict[str, Any]:
        payload = {
            "name": name,
            "usageContext": ["web"],
            "domainName": [domain],
            "notes": "Track AI (docs/provisioning.md)",
        }
        return self._call("POST", f"/accounts/{account_id}/containers", json=payload).json()

    def delete_container(self, container_path: str) -> bool:
        response = self._call("DELETE", f"/{container_path}", ok_statuses=(404,))
        return response.status_code != 404

    # --- workspace and its entities ----------------------------------------------------------------
    def ensure_workspace(self, container_path: str, name: str) -> dict[str, Any]:
        found = next(
            (w for w in self._pages(f"/{container_path}/workspaces", "workspace") if w.get("name") == name),
            None,
        )
        if found:
            return found
        return self._call("POST", f"/{container_path}/workspaces", json={"name": name}).json()

    def entities(self, workspace_path: str, kind: str) -> list[dict[str, Any]]:
        return list(self._pages(f"/{workspace_path}/{kind}", ENTITY_KINDS[kind]))

    def create_entity(self, workspace_path: str, kind: str, entity: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/{workspace_path}/{kind}", json=entity).json()

    def update_entity(self, entity_path: str, entity: dict[str, Any], fingerprint: str) -> dict[str, Any]:
        return self._call("PUT", f"/{entity_path}", params={"fingerprint": fingerprint}, json=entity).json()

    def workspace_status(self, workspace_path: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/{workspace_path}/status").json().get("workspaceChange", [])

    # --- versions ----------------------------------------------------------------------------------
    def find_version(self, container_path: str, name: str) -> dict[str, Any] | None:
        headers = self._pages(f"/{container_path}/version_headers", "containerVersionHeader")
        return next((h for h in headers if h.get("name") == name and not h.get("deleted")), None)

    def create_version(self, workspace_path: str, name: str, notes: str) -> dict[str, Any]:
        body = self._call(
            "POST", f"/{workspace_path}:create_version", json={"name": name, "notes": notes}
        ).json()
        if body.get("compilerError") or "containerVersion" not in body:
            raise ApiError(SERVICE, None, "create_version: the workspace does not compile")
        return body["containerVersion"]

    def publish(self, container_path: str, version_id: str) -> dict[str, Any]:
        body = self._call("POST", f"/{container_path}/versions/{version_id}:publish").json()
        if body.get("compilerError"):
            raise ApiError(SERVICE, None, "publish: the version does not compile")
        return body.get("containerVersion", {})

    def live_version_id(self, container_path: str) -> str | None:
        response = self._call("GET", f"/{container_path}/versions:live", ok_statuses=(404,))
        return None if response.status_code == 404 else str(response.json().get("containerVersionId"))
