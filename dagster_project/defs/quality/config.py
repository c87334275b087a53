"""Alarm thresholds: one field list, ``trackai.settings.AlarmSettings`` (TRACKAI_ALARM_<FIELD>, e.g.
TRACKAI_ALARM_DLQ_WARN=10). ``AlarmThresholds`` is that class under the name the alarm functions use; the
Dagster resource only overrides some of its fields per deployment (run or resource config)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from trackai.settings import AlarmSettings, get_settings

AlarmThresholds = AlarmSettings


class AlarmThresholdsResource(dg.ConfigurableResource):
    """``overrides``: field -> value on top of TRACKAI_ALARM_* (validated by AlarmSettings when used)."""

    overrides: dict[str, Any] = {}

    def thresholds(self) -> AlarmThresholds:
        unknown = set(self.overrides) - set(AlarmSettings.model_fields)
        if unknown:
            raise ValueError(f"unknown alarm threshold(s): {', '.join(sorted(unknown))}")
        return AlarmSettings.model_validate({**get_settings().alarm.model_dump(), **self.overrides})
