"""Render deploy/dashboard/panels.yml into the Grafana dashboard and the Prometheus console page.

    python deploy/dashboard/render.py           write both files
    python deploy/dashboard/render.py --check   exit 1 when either file is not what panels.yml gives

Grafana (deploy/grafana/dashboards/trackai.json): one row per group, time-series panels, the datasource
picked by a template variable (provisioned as "Prometheus"). Console (deploy/prometheus/consoles/trackai.html):
the same groups and panels as tables of current values, each series linking to Prometheus' graph page, for
machines where Grafana cannot run; Prometheus serves it with --web.console.templates.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

import yaml

HERE = Path(__file__).resolve().parent
SPEC = HERE / "panels.yml"
GRAFANA = HERE.parent / "grafana" / "dashboards" / "trackai.json"
CONSOLE = HERE.parent / "prometheus" / "consoles" / "trackai.html"
PANELS_PER_ROW = 4
PANEL_HEIGHT = 8


def load(path: Path = SPEC) -> dict:
    return yaml.safe_load(path.read_text())


def expressions(spec: dict) -> list[str]:
    return [t["expr"].strip() for row in spec["rows"] for p in row["panels"] for t in p["targets"]]


def grafana(spec: dict) -> str:
    panels, y, next_id = [], 0, 1
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    for row in spec["rows"]:
        panels.append(
            {"id": next_id, "type": "row", "title": row["title"], "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )  # fmt: skip
        next_id, y = next_id + 1, y + 1
        width = 24 // min(PANELS_PER_ROW, len(row["panels"]))
        for i, panel in enumerate(row["panels"]):
            panels.append(
                {
                    "id": next_id,
                    "type": "timeseries",
                    "title": panel["title"],
                    "datasource": datasource,
                    "gridPos": {"h": PANEL_HEIGHT, "w": width, "x": (i % PANELS_PER_ROW) * width, "y": y},
                    "fieldConfig": {"defaults": {"unit": panel["unit"]}, "overrides": []},
                    "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                    "targets": [
                        {"refId": chr(ord("A") + n), "datasource": datasource, "expr": t["expr"].strip(),
                         "legendFormat": t["legend"]}
                        for n, t in enumerate(panel["targets"])
                    ],
                }
            )  # fmt: skip
            next_id += 1
        y += PANEL_HEIGHT
    dashboard = {
        "uid": spec["uid"],
        "title": spec["title"],
        "tags": ["trackai"],
        "timezone": "utc",
        "refresh": spec["refresh"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def console(spec: dict) -> str:
    """A Go template for Prometheus' console server: one table per panel, current value per series."""
    out = [
        "{{/* Generated from deploy/dashboard/panels.yml by deploy/dashboard/render.py: do not edit. */}}",
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{html.escape(spec["title"])}</title>',
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.3em 0 1em}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}h2{margin-top:1.2em}</style>",
        "</head><body>",
        f"<h1>{html.escape(spec['title'])}</h1>",
        "<p>Current values; each series links to its graph. The same panels as the Grafana dashboard.</p>",
    ]
    for row in spec["rows"]:
        out.append(f"<h2>{html.escape(row['title'])}</h2>")
        for panel in row["panels"]:
            out.append(f'<h3 class="panel">{html.escape(panel["title"])}</h3>')
            out.append("<table><tr><th>series</th><th>value</th></tr>")
            for target in panel["targets"]:
                expr = " ".join(target["expr"].split())
                if "`" in expr:
                    raise ValueError(f"backquote in expression: {expr}")
                graph = "{{ pathPrefix }}/graph?g0.range_input=1h&g0.tab=0&g0.expr=" + quote(expr, safe="")
                legend = html.escape(re.sub(r"\{\{\s*(\w+)\s*\}\}", r"by \1", target["legend"]))
                value = _format(panel["unit"])
                out.append(
                    "{{ range query `" + expr + "` }}"
                    f'<tr><td><a href="{graph}">{legend}</a> {{{{ .Labels }}}}</td><td>{value}</td></tr>'
                    "{{ else }}"
                    f'<tr><td><a href="{graph}">{legend}</a></td><td>no data</td></tr>'
                    "{{ end }}"
                )
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _format(unit: str) -> str:
    if unit == "percentunit":
        return "{{ . | value | humanizePercentage }}"
    if unit == "s":
        return "{{ . | value | humanizeDuration }}"
    return "{{ . | value | humanize }}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    spec = load()
    wanted = {GRAFANA: grafana(spec), CONSOLE: console(spec)}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run python deploy/dashboard/render.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
