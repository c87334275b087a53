"""Reliability suite: real processes, a real Postgres, loopback only, bounded in time and traffic.

Each test records the figures it measured with ``record_figures`` (printed, and written to
.trackai/reliability/<test>.json) so docs/reliability.md can quote the last full run.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from trackai.settings import REPO_ROOT

FIGURES_DIR = REPO_ROOT / ".trackai" / "reliability"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def record_figures(request: pytest.FixtureRequest) -> Callable[[dict], None]:
    def _record(figures: dict) -> None:
        FIGURES_DIR.mkdir(parents=True, exist_ok=True)
        name = request.node.name
        (FIGURES_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\n[figures] {name}: {json.dumps(figures, default=str)}")

    return _record
