"""Run the fake in a background thread (tests, demo, bench) on 127.0.0.1 and a free port."""

from __future__ import annotations

import threading
import time

import uvicorn

from trackai.net import free_port
from trackai_cli.capi_mock.app import MockConfig, MockState, create_app


class MockServer:
    """``with MockServer(MockConfig(...)) as fake: settings.meta_graph_url = fake.url``."""

    def __init__(self, config: MockConfig | None = None, port: int | None = None) -> None:
        self.state = MockState(config)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.wrap_app(create_app(self.state)),
                interface="asgi3",  # a wrapped app may be a bound method, which uvicorn would guess as ASGI2
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self._thread: threading.Thread | None = None

    def wrap_app(self, app):
        """Subclasses may wrap the fake's ASGI app (tests: hold a response back)."""
        return app

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self._server.run, name="capi-mock", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("capi-mock did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # conveniences for tests
    def configure(self, **changes: object) -> None:
        self.state.configure(**changes)

    def reset(self) -> None:
        self.state.reset()

    @property
    def events(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.events)

    def event_ids(self) -> list[str]:
        return self.state.accepted_event_ids()
