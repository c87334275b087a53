"""Local Graph API fake (like stripe-mock): ``trackai capi-mock --port N`` or :class:`MockServer`."""

from trackai_cli.capi_mock.app import MockConfig, MockState, create_app
from trackai_cli.capi_mock.server import MockServer

__all__ = ["MockConfig", "MockServer", "MockState", "create_app"]
