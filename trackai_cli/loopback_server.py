"""One way to run a local fake (Graph API, gateways' sales APIs) in a background thread on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from typing import Self

import uvicorn

from trackai.net import free_port


class LoopbackServer:
    """Serves ``app`` under uvicorn on 127.0.0.1 and ``port`` (default: a free one); ``with`` starts and
    stops it. ``url`` is its base URL. ``lifespan="on"`` runs the app's startup/shutdown (a real service's
    app, e.g. in tests); the fakes need none."""

    name = "loopback-fake"

    def __init__(self, app, port: int | None = None, *, lifespan: str = "off") -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                interface="asgi3",  # a wrapped app may be a bound method, which uvicorn would guess as ASGI2
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan=lifespan,
            )
        )
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
