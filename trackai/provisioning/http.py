"""One request with retries for the httpx clients (Stape, GTM): 429 waits the server's Retry-After (seconds
or an HTTP date, capped), 5xx and timeouts back off exponentially; other 4xx fail at once. Every retry is
logged with the service and the status, never with a body or a header."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from trackai.provisioning.errors import ApiError

log = logging.getLogger("trackai.provisioning")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: an integer/float, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return max((parsed - (now or datetime.now(UTC))).total_seconds(), 0.0)


def request(
    client: httpx.Client,
    service: str,
    method: str,
    url: str,
    *,
    max_retries: int,
    max_wait: float,
    error_message: Callable[[httpx.Response], str],
    sleep: Callable[[float], None] = time.sleep,
    ok_statuses: tuple[int, ...] = (),
    **kwargs,
) -> httpx.Response:
    attempt = 0
    while True:
        try:
            response = client.request(method, url, **kwargs)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            if attempt >= max_retries:
                raise ApiError(
                    service, None, f"{type(exc).__name__} after {attempt + 1} attempts", retryable=True
                ) from exc
            wait = min(2.0**attempt * 0.25, max_wait)
            log.warning(
                "provisioning request retried", extra={"service": service, "reason": type(exc).__name__}
            )
            sleep(wait)
            attempt += 1
            continue
        status = response.status_code
        if status < 400 or status in ok_statuses:
            return response
        retryable = status == 429 or status >= 500 or status == 408
        if not retryable or attempt >= max_retries:
            raise ApiError(service, status, error_message(response), retryable=retryable)
        wait = retry_after_seconds(response.headers.get("retry-after")) if status == 429 else None
        if wait is not None and wait > max_wait:
            raise ApiError(
                service, status, f"Retry-After {wait:.0f}s is longer than {max_wait:.0f}s", retryable=True
            )
        if wait is None:
            wait = min(2.0**attempt * 0.25, max_wait)
        log.warning("provisioning request retried", extra={"service": service, "status": status})
        sleep(wait)
        attempt += 1
