"""One output format for every benchmark in bench/: a table on stdout, ``<name>.json`` and ``<name>.png``.

Full runs write under docs/benchmarks/ (what docs/benchmarks.md shows); ``--smoke`` runs write under
.trackai/bench-smoke/ so CI never overwrites the published figures. Targets are reported, never
asserted: these machines are noisy, so each benchmark also measures its baseline in the same run and
the ratio is the figure that holds.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_DIR = ROOT / "docs" / "benchmarks"
SMOKE_DIR = ROOT / ".trackai" / "bench-smoke"


@dataclass(frozen=True)
class Target:
    """A documented target and the figure measured against it."""

    label: str
    measured: float
    limit: float
    unit: str
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit

    def describe(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "MISSED"
        return f"{self.label}: {self.measured:,.3g} {self.unit} (target {op} {self.limit:,.3g}) {verdict}"


def output_dir(smoke: bool) -> Path:
    path = SMOKE_DIR if smoke else PUBLISHED_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine() -> dict[str, Any]:
    """What the figures were measured on: they only mean something next to this."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def format_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    text = [[format_cell(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) if text else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(out)


def publish(
    name: str,
    *,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    targets: Sequence[Target],
    smoke: bool,
    plot: Callable[[Any], None] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Print the table and targets, write ``<name>.json`` and (given ``plot(ax)``) ``<name>.png``."""
    directory = output_dir(smoke)
    print(f"\n== {title}{' (smoke)' if smoke else ''}")
    print(format_table(columns, rows))
    for target in targets:
        print("  " + target.describe())
    report = {
        "name": name,
        "title": title,
        "smoke": smoke,
        "machine": machine(),
        "columns": list(columns),
        "rows": [list(r) for r in rows],
        "targets": [{**asdict(t), "met": t.met} for t in targets],
        "details": details or {},
    }
    (directory / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        plot(ax)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(directory / f"{name}.png")
        plt.close(fig)
    print(f"  wrote {directory.relative_to(ROOT)}/{name}.json" + (" and .png" if plot else ""))
    return report
