"""Loopback fakes of the Hotmart and Kiwify sales APIs (tests of trackai.verification)."""

from trackai_cli.sales_api_mock.app import SalesApiState, create_app
from trackai_cli.sales_api_mock.server import SalesApiServer

__all__ = ["SalesApiServer", "SalesApiState", "create_app"]
