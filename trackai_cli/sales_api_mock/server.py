"""Run the sales-API fake in a background thread on 127.0.0.1 and a free port (tests, demo)."""

from __future__ import annotations

import threading
import time

import uvicorn

from trackai.net import free_port
from trackai_cli.sales_api_mock.app import SalesApiState, create_app


class SalesApiServer:
    """``with SalesApiServer() as fake: fake.state.add_hotmart_sale(...)``; point
    TRACKAI_VERIFY_HOTMART_API_URL, _HOTMART_AUTH_URL and _KIWIFY_API_URL at ``fake.url``."""

    def __init__(self, state: SalesApiState | None = None, port: int | None = None) -> None:
        self.state = state or SalesApiState()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.state),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self._thread: threading.Thread | None = None

    def start(self) -> SalesApiServer:
        self._thread = threading.Thread(target=self._server.run, name="sales-api-mock", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("sales-api-mock did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> SalesApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
