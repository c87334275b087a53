"""Table-driven classification of Graph API outcomes (meta_capi.md §A1 "Error codes").

``classify(http_status, body)`` returns an :class:`ErrorClass` telling the dispatcher what to do:

- ``OK``: 2xx, mark the batch sent.
- ``RETRYABLE``: network error, timeout, HTTP 5xx, HTML body, codes 1, 2, 4, 17, 32, 341, 368, 613,
  80000-80099, or ``is_transient: true`` -> back off and try again.
- ``BAD_EVENT``: code 100 (any subcode except 33) -> data problem; bisect the batch, DLQ the bad event.
- ``AUTH``: 190 / 102 -> token invalid; stop the tenant, raise the token alarm, no retry.
- ``PERMISSION``: 3, 10, 200-299, 100/33 (pixel unknown or not allowed) -> configuration problem;
  handled like AUTH (tenant stopped, alarm) because resending cannot succeed.
- Anything unknown is RETRYABLE (RudderStack's default is a 500 = retry), bounded by the deadline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    OK = "ok"
    RETRYABLE = "retryable"
    BAD_EVENT = "bad_event"
    AUTH = "auth"
    PERMISSION = "permission"


RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613})
AUTH_CODES = frozenset({190, 102})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
PIXEL_NOT_FOUND_SUBCODE = 33

# (predicate name, ErrorClass) rows are evaluated in order by classify_code; kept as data for tests.
CODE_TABLE: tuple[tuple[str, ErrorClass], ...] = (
    ("auth", ErrorClass.AUTH),
    ("pixel_not_found", ErrorClass.PERMISSION),
    ("bad_event", ErrorClass.BAD_EVENT),
    ("permission", ErrorClass.PERMISSION),
    ("retryable", ErrorClass.RETRYABLE),
    ("bu_throttle", ErrorClass.RETRYABLE),
    ("transient", ErrorClass.RETRYABLE),
)


@dataclass(frozen=True)
class GraphError:
    """The parts of a Graph error body the dispatcher records (``ops.dispatch_attempts``/``ops.dlq``)."""

    error_class: ErrorClass
    http_status: int | None = None
    code: int | None = None
    subcode: int | None = None
    message: str | None = None
    user_title: str | None = None
    user_msg: str | None = None
    is_transient: bool = False
    fbtrace_id: str | None = None

    @property
    def retryable(self) -> bool:
        return self.error_class is ErrorClass.RETRYABLE

    def describe(self) -> str:
        parts = [p for p in (self.user_title, self.user_msg or self.message) if p]
        head = f"code {self.code}" + (f"/{self.subcode}" if self.subcode else "") if self.code else ""
        if self.http_status is not None:
            head = f"HTTP {self.http_status}" + (f" {head}" if head else "")
        return ": ".join([head, *parts]) if head else ": ".join(parts) or "unknown error"


def _matches(rule: str, code: int | None, subcode: int | None, transient: bool) -> bool:
    if rule == "auth":
        return code in AUTH_CODES
    if rule == "pixel_not_found":
        return code == 100 and subcode == PIXEL_NOT_FOUND_SUBCODE
    if rule == "bad_event":
        return code == 100
    if rule == "permission":
        return code in PERMISSION_CODES
    if rule == "retryable":
        return code in RETRYABLE_CODES
    if rule == "bu_throttle":
        return code is not None and 80000 <= code <= 80099
    if rule == "transient":
        return transient
    raise ValueError(rule)


def classify_code(code: int | None, subcode: int | None = None, is_transient: bool = False) -> ErrorClass:
    for rule, error_class in CODE_TABLE:
        if _matches(rule, code, subcode, is_transient):
            return error_class
    return ErrorClass.RETRYABLE


def classify(http_status: int | None, body: bytes | str | dict | None) -> GraphError:
    """Classify one HTTP outcome. ``http_status=None`` means a network error or timeout (retryable)."""
    if http_status is None:
        return GraphError(ErrorClass.RETRYABLE, message=str(body) if body else "network error or timeout")
    payload = _parse(body)
    if 200 <= http_status < 300 and (payload is None or "error" not in payload):
        trace = payload.get("fbtrace_id") if isinstance(payload, dict) else None
        return GraphError(ErrorClass.OK, http_status=http_status, fbtrace_id=trace)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):  # HTML or empty body: upstream failure
        return GraphError(
            ErrorClass.RETRYABLE,
            http_status=http_status,
            message=f"non-JSON error body (HTTP {http_status})",
        )
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    transient = bool(error.get("is_transient"))
    error_class = ErrorClass.RETRYABLE if code is None else classify_code(code, subcode, transient)
    if http_status >= 500 and error_class is ErrorClass.BAD_EVENT:
        error_class = ErrorClass.RETRYABLE  # a 5xx is never the event's fault
    return GraphError(
        error_class,
        http_status=http_status,
        code=code,
        subcode=subcode,
        message=error.get("message"),
        user_title=error.get("error_user_title"),
        user_msg=error.get("error_user_msg"),
        is_transient=transient,
        fbtrace_id=error.get("fbtrace_id"),
    )


def _parse(body: bytes | str | dict | None) -> dict | None:
    if body is None or isinstance(body, dict):
        return body
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
