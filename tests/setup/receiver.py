"""A loopback webhook receiver standing in for the support channel (Slack/PagerDuty) in tests."""

from __future__ import annotations

import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trackai_cli.loopback_server import LoopbackServer


class AlertReceiver(LoopbackServer):
    name = "alert-receiver"

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._lock = threading.Lock()

        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.received.append(body)
            return JSONResponse({"ok": True})

        super().__init__(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))

    @property
    def hook_url(self) -> str:
        return self.url + "/hook"

    def cases(self) -> list[dict]:
        with self._lock:
            return [
                b["trackai"]
                for b in self.received
                if b.get("trackai", {}).get("component") == "setup-assistant"
            ]
