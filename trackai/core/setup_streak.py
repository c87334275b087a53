"""Pure rule of the person called in (issue 16): consecutive failures of one step of one tenant; the
``threshold``-th opens one support case, a pass resets the streak and closes the open case."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreakStep:
    failures: int  # the streak after this call
    open_case: bool  # open a support case now
    close_case: bool  # close the open one (the step passed)


def after_call(previous_failures: int, failed: bool, *, threshold: int, case_open: bool) -> StreakStep:
    if not failed:
        return StreakStep(0, False, case_open)
    failures = previous_failures + 1
    return StreakStep(failures, failures >= threshold and not case_open, False)
