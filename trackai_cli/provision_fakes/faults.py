"""Fault injection shared by the fakes: rules matched on method and path, consumed in order."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the client's timeout: a timeout)
    times: int = 1


class Faults:
    """``add(...)`` a rule; the next ``times`` matching requests get it instead of the real answer."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request answered

    def add(
        self,
        method: str,
        path: str,
        status: int = 500,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        with self._lock:
            self._rules.append(
                Fault(method.upper(), re.compile(path), status, body, headers or {}, delay, times)
            )

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.method in (method, "*") and rule.path.search(path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    async def answer(self, fault: Fault, default_body: Any) -> Response:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        return JSONResponse(
            fault.body if fault.body is not None else default_body, fault.status, fault.headers
        )

    def count(self, method: str, pattern: str, status: int | None = None) -> int:
        rx = re.compile(pattern)
        return sum(
            1 for m, p, s in self.log if m == method and rx.search(p) and (status is None or s == status)
        )
