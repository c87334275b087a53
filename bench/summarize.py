"""Rewrite the generated part of docs/benchmarks.md from docs/benchmarks/*.json (the last full runs).

``make bench`` calls this after the benchmarks; the hand-written parts of the page (how to reproduce,
findings, profiling notes) sit outside the markers and are kept as they are.
"""

from __future__ import annotations

import json
import sys

from _report import PUBLISHED_DIR, ROOT
from _report import format_cell as _cell

PAGE = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- generated:start -->", "<!-- generated:end -->"
ORDER = (
    "p1_ingest",
    "p2_matching",
    "p3_dispatch",
    "p4_freshness",
    "p5_dashboard",
    "p6_overheads",
    "p7_console",
    "archive",
)


def section(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"### {report['title']}",
        "",
        f"Measured {machine['measured_at']} at commit `{machine['commit']}` on {machine['cpus']} CPUs "
        f"(load average at the end: {', '.join(str(x) for x in machine['load_average_at_end'])}).",
        "",
        "| " + " | ".join(report["columns"]) + " |",
        "|" + "---|" * len(report["columns"]),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in report["rows"]]
    lines.append("")
    for t in report["targets"]:
        op = ">=" if t["higher_is_better"] else "<="
        verdict = "met" if t["met"] else "**MISSED**"
        lines.append(
            f"- {t['label']}: {_cell(float(t['measured']))} {t['unit']} (target {op} {_cell(float(t['limit']))}) — {verdict}"
        )
    png = PUBLISHED_DIR / f"{report['name']}.png"
    if png.exists():
        lines += ["", f"![{report['title']}](benchmarks/{png.name})"]
    return "\n".join(lines) + "\n"


def main() -> int:
    reports = {}
    for path in sorted(PUBLISHED_DIR.glob("*.json")):
        report = json.loads(path.read_text())
        reports[report["name"]] = report
    if not reports:
        print("no published benchmark results in docs/benchmarks/; run `make bench` first", file=sys.stderr)
        return 1
    names = [n for n in ORDER if n in reports] + sorted(set(reports) - set(ORDER))
    missed = [
        f"{reports[n]['title']}: {t['label']}" for n in names for t in reports[n]["targets"] if not t["met"]
    ]
    body = ["## Latest results", ""]
    body.append("Targets missed in these runs: " + ("; ".join(missed) if missed else "none") + ".\n")
    body += [section(reports[n]) for n in names]
    generated = f"{START}\n" + "\n".join(body) + f"{END}\n"
    text = PAGE.read_text() if PAGE.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(head + generated + tail.lstrip("\n"))
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(names)} benchmarks, {len(missed)} targets missed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
