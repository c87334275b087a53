"""Inputs of a setup tool call as stored in the transcript: never a secret (issue 16)."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(
    r"(^|_)(token|secret|password|passwd|hottok|signature|authorization|api_?key|credentials?)$", re.I
)
_ALLOWED = {"test_event_code"}  # Meta's test code is shown in Events Manager, not a credential
_TOKENISH = re.compile(r"\b(EAA[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9]{8,}|sk_(live|test)_[A-Za-z0-9]{8,})\b")


def redact(value: Any, key: str = "") -> Any:
    if key and key not in _ALLOWED and _SECRET_KEY.search(key):
        return "[redacted]" if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _TOKENISH.sub("[redacted]", value)
    return value
