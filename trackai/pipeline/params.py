"""The matching knobs of one micro-batch run."""

from __future__ import annotations

from dataclasses import dataclass

from trackai.settings import MatchSettings, Settings, get_settings

_DEFAULTS = MatchSettings.model_fields


@dataclass(frozen=True)
class MatchParams:
    """``from_settings()`` takes TRACKAI_MATCH_*; Dagster run config overrides."""

    threshold: float = _DEFAULTS["threshold"].default
    semi_window_days: float = 7.0
    probabilistic_window_hours: float = _DEFAULTS["window_hours"].default
    deterministic_lookback_days: float = _DEFAULTS["lookback_days"].default

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MatchParams:
        match = (settings or get_settings()).match
        return cls(
            threshold=match.threshold,
            probabilistic_window_hours=match.window_hours,
            deterministic_lookback_days=match.lookback_days,
        )
