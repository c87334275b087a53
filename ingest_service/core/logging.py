"""The ingest service's logger: JSON lines (trackai.observability). Callers pass tenant_id/gateway/outcome
as ``extra``; never secrets or PII."""

from __future__ import annotations

import logging

from trackai.observability import JsonFormatter, configure_json_logging

__all__ = ["JsonFormatter", "configure", "log"]


def configure(level: str = "INFO") -> logging.Logger:
    return configure_json_logging("trackai.ingest", level)


log = logging.getLogger("trackai.ingest")
