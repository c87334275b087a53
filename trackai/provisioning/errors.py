"""What can go wrong talking to the three APIs, and whether trying again can help."""

from __future__ import annotations


class ProvisionError(RuntimeError):
    """A step failed. ``retryable``: a later attempt may succeed (429, 5xx, timeouts)."""

    retryable = False


class ApiError(ProvisionError):
    def __init__(self, service: str, status: int | None, message: str, *, retryable: bool = False) -> None:
        self.service = service
        self.status = status
        self.retryable = retryable
        super().__init__(f"{service}: {'HTTP ' + str(status) + ': ' if status else ''}{message}")


class StapeNotActive(ProvisionError):
    """The Stape container did not become active before the deadline: the run rolls back."""


class PublishBlocked(ProvisionError):
    """GTM publish is refused for now (test event missing, no approval, diff changed); not a failure."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ConfigurationMissing(ProvisionError):
    """A setting the step needs is empty (the message names the variable)."""
