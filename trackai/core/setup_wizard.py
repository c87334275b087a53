"""The console wizard's order of steps and which are blocked, from the latest answer of each step (issue 16).
Pure: the console reads the latest status per tool from the transcript and renders what this says."""

from __future__ import annotations

from dataclasses import dataclass

STEPS = (
    "generate_tracking_snippet",
    "validate_meta_token",
    "validate_gateway_webhook",
    "probe_landing_url",
    "check_pixel_presence",
    "send_test_capi_event",
)
# step -> the step that must have passed (pass or warn) first, and why (pt-BR, English)
REQUIRES: dict[str, tuple[str, str, str]] = {
    "check_pixel_presence": (
        "probe_landing_url",
        "a página do anúncio precisa abrir sem erro antes de procurarmos o pixel nela",
        "the ad's page must open without error before we look for the pixel on it",
    ),
    "send_test_capi_event": (
        "validate_meta_token",
        "o evento de teste é enviado com o token da Meta, que precisa estar válido antes",
        "the test event is sent with the Meta token, which must be valid first",
    ),
}


@dataclass(frozen=True)
class StepState:
    tool: str
    number: int
    state: str  # todo | pass | warn | fail | blocked
    blocked_by: str | None = None
    why_pt: str | None = None
    why_en: str | None = None


def steps(latest: dict[str, str]) -> list[StepState]:
    """``latest``: tool -> status of its latest call (pass | warn | fail); absent = never run."""
    out = []
    for number, tool in enumerate(STEPS, start=1):
        need = REQUIRES.get(tool)
        if need and latest.get(need[0]) not in ("pass", "warn"):
            out.append(StepState(tool, number, "blocked", need[0], need[1], need[2]))
            continue
        out.append(StepState(tool, number, latest.get(tool, "todo")))
    return out


def blocked(latest: dict[str, str], tool: str) -> StepState | None:
    for step in steps(latest):
        if step.tool == tool and step.state == "blocked":
            return step
    return None
