"""Run the fake in a background thread (tests, demo, bench) on 127.0.0.1 and a free port."""

from __future__ import annotations

from trackai_cli.capi_mock.app import MockConfig, MockState, create_app
from trackai_cli.loopback_server import LoopbackServer


class MockServer(LoopbackServer):
    """``with MockServer(MockConfig(...)) as fake: settings.meta_graph_url = fake.url``."""

    name = "capi-mock"

    def __init__(self, config: MockConfig | None = None, port: int | None = None) -> None:
        self.state = MockState(config)
        super().__init__(self.wrap_app(create_app(self.state)), port)

    def wrap_app(self, app):
        """Subclasses may wrap the fake's ASGI app (tests: hold a response back)."""
        return app

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
