"""Structured JSON logs. Callers pass tenant_id/gateway/outcome as ``extra``; never secrets or PII."""

from __future__ import annotations

import json
import logging
import sys
import time

_FIELDS = ("tenant_id", "gateway", "outcome", "reason", "status", "delivery_key", "latency_ms", "path")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> logging.Logger:
    logger = logging.getLogger("trackai.ingest")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())
    return logger


log = logging.getLogger("trackai.ingest")
