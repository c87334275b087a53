"""Pure helpers turning a Dagster daily-partition window into dbt vars (unit-tested)."""

from __future__ import annotations

import json
from datetime import date, datetime


def _day(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def partition_vars(start: date | datetime | str, end: date | datetime | str) -> dict[str, str]:
    """``{"min_date", "max_date"}`` for the half-open day window [start, end) of a partition range."""
    lo, hi = _day(start), _day(end)
    if hi <= lo:
        raise ValueError(f"empty partition window: {lo} .. {hi}")
    return {"min_date": lo, "max_date": hi}


def vars_arg(variables: dict[str, str]) -> list[str]:
    """The ``--vars`` CLI arguments for a dict (empty list when there is nothing to pass)."""
    return ["--vars", json.dumps(variables, sort_keys=True)] if variables else []
