"""Stape API v2 (sGTM hosting) over httpx: containers listed (paged), created, read, deleted; a new
container is polled until ``active`` or a deadline (TRACKAI_PROVISION_STAPE_DEADLINE_SECONDS, 10 minutes).

Requests carry the account key as ``X-AUTH-TOKEN``; answers wrap their payload in ``{"body": …}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from trackai.provisioning import http
from trackai.provisioning.errors import ApiError, StapeNotActive

SERVICE = "stape"
PAGE_LIMIT = 50


@dataclass(frozen=True)
class Container:
    identifier: str
    name: str
    status: str
    domains: tuple[str, ...]

    @classmethod
    def of(cls, body: dict[str, Any]) -> Container:
        status = body.get("status")
        if isinstance(status, dict):
            status = status.get("type")
        domains = tuple(
            d.get("name", "") if isinstance(d, dict) else str(d) for d in body.get("domains") or []
        )
        return cls(str(body["identifier"]), str(body.get("name", "")), str(status or ""), domains)


def _message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(payload.get("message") or error or response.reason_phrase)
    return response.reason_phrase


class StapeClient:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 4,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"X-AUTH-TOKEN": api_key, "Accept": "application/json"},
        )
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.sleep = sleep

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        return http.request(
            self.http,
            SERVICE,
            method,
            path,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            error_message=_message,
            sleep=self.sleep,
            **kwargs,
        )

    def find_container(self, name: str) -> Container | None:
        page = 1
        while True:
            body = self._call("GET", "/containers", params={"page": page, "limit": PAGE_LIMIT}).json()["body"]
            for item in body.get("items", []):
                if item.get("name") == name:
                    return Container.of(item)
            if page >= int(body.get("pages") or 1):
                return None
            page += 1

    def create_container(self, name: str, zone: str, domain: str) -> Container:
        payload = {"name": name, "zone": {"type": zone}, "domains": [{"name": domain, "cdnType": "own"}]}
        return Container.of(self._call("POST", "/containers", json=payload).json()["body"])

    def get_container(self, identifier: str) -> Container:
        return Container.of(self._call("GET", f"/containers/{identifier}").json()["body"])

    def delete_container(self, identifier: str) -> bool:
        response = self._call("DELETE", f"/containers/{identifier}", ok_statuses=(404,))
        return response.status_code != 404

    def wait_active(
        self,
        identifier: str,
        deadline: float,
        poll_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Container:
        """Poll until the container is ``active``; :class:`StapeNotActive` at ``deadline`` (epoch seconds) or
        when Stape reports it failed."""
        while True:
            try:
                container = self.get_container(identifier)
            except ApiError as exc:
                if not exc.retryable:
                    raise
                container = None  # a transient error while polling: poll again until the deadline
            if container is not None:
                if container.status == "active":
                    return container
                if container.status in ("failed", "deleted", "error"):
                    raise StapeNotActive(f"Stape container {identifier} is {container.status}")
            remaining = deadline - clock()
            if remaining <= 0:
                state = container.status if container else "unknown"
                raise StapeNotActive(f"Stape container {identifier} still {state!r} at the deadline")
            sleep(min(poll_seconds, remaining))
