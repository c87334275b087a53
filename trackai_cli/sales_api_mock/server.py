"""Run the sales-API fake in a background thread on 127.0.0.1 and a free port (tests, demo)."""

from __future__ import annotations

from trackai_cli.loopback_server import LoopbackServer
from trackai_cli.sales_api_mock.app import SalesApiState, create_app


class SalesApiServer(LoopbackServer):
    """``with SalesApiServer() as fake: fake.state.add_hotmart_sale(...)``; point
    TRACKAI_VERIFY_HOTMART_API_URL, _HOTMART_AUTH_URL and _KIWIFY_API_URL at ``fake.url``."""

    name = "sales-api-mock"

    def __init__(self, state: SalesApiState | None = None, port: int | None = None) -> None:
        self.state = state or SalesApiState()
        super().__init__(create_app(self.state), port)
