"""Structured JSON logs and optional Sentry, shared by the ingest service, dispatch and Dagster runs.

Logs: one JSON object per line on stderr. Callers pass context as ``extra`` (tenant_id, event_id,
gateway, ...); only the whitelisted fields below are emitted, so a stray ``extra`` can never leak a
secret or a plaintext email into the logs.

Sentry: off unless ``TRACKAI_SENTRY_DSN`` (or the conventional ``SENTRY_DSN``) is set. PII is never
sent: ``send_default_pii=False``, no frame locals (a webhook handler's locals hold the raw body), and
request bodies, headers and query strings are dropped in ``before_send`` (they carry buyers' emails and
gateway tokens). tests/foundation/test_observability.py proves it against a loopback Sentry.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from trackai.settings import get_settings

LOG_FIELDS = (
    "tenant_id",
    "event_id",
    "gateway",
    "pixel_id",
    "batch_id",
    "outcome",
    "reason",
    "status",
    "code",
    "events",
    "delivery_key",
    "latency_ms",
    "path",
    "component",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(entry, default=str)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now, so ``contextlib.redirect_stderr`` (the demo's log
    files, pytest's capture) applies to records logged after the handler was installed."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_json_logging(logger_name: str, level: str | None = None) -> logging.Logger:
    """Give ``logger_name`` one JSON stderr handler (idempotent) and stop propagation to the root.

    ``level`` defaults to ``TRACKAI_LOG_LEVEL`` (INFO).
    """
    logger = logging.getLogger(logger_name)
    level = level or get_settings().log_level
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = _CurrentStderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())
    return logger


_SENTRY_STARTED: str | None = None


def sentry_dsn(configured: str | None) -> str | None:
    return configured or get_settings().sentry_dsn or None


def _scrub(event: dict, _hint: dict) -> dict:
    """Drop what may carry PII or secrets: request bodies, headers, cookies, query strings."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "headers", "cookies", "query_string", "env"):
            request.pop(key, None)
    return event


def init_sentry(component: str, *, dsn: str | None, environment: str, **options: Any) -> bool:
    """Start Sentry once per process when a DSN is configured; returns whether it is on."""
    global _SENTRY_STARTED
    dsn = sentry_dsn(dsn)
    if not dsn:
        return False
    if dsn == _SENTRY_STARTED:
        return True
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # stack frames hold raw webhook bodies (emails, phones)
        before_send=_scrub,
        traces_sample_rate=0.0,
        **options,
    )
    sentry_sdk.set_tag("component", component)
    _SENTRY_STARTED = dsn
    return True
