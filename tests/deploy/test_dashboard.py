"""The dashboard (deploy/dashboard/panels.yml): the Grafana JSON and the Prometheus console page are the
ones render.py gives, every expression parses, every metric is exported, and Prometheus serves the page."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import httpx
import pytest
import yaml

from tests.deploy.conftest import metrics_in
from trackai.net import free_port
from trackai.settings import REPO_ROOT

RENDER = REPO_ROOT / "deploy" / "dashboard" / "render.py"
sys.path.insert(0, str(RENDER.parent))
import render  # noqa: E402 - the renderer is a script beside panels.yml

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
ISSUE_PANELS = ("throughput", "latency", "success", "dlq", "breaker", "match rate", "connections", "backlog")


def test_generated_files_are_current() -> None:
    out = subprocess.run([sys.executable, str(RENDER), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_panels_the_issue_asks_for_are_there() -> None:
    spec = render.load()
    titles = " ".join(
        [row["title"] for row in spec["rows"]] + [p["title"] for row in spec["rows"] for p in row["panels"]]
    ).lower()
    for wanted in ISSUE_PANELS:
        assert wanted in titles, wanted
    assert {"p50", "p95", "p99"} <= {
        t["legend"] for r in spec["rows"] for p in r["panels"] for t in p["targets"]
    }
    grafana = json.loads(render.GRAFANA.read_text())
    timeseries = [p for p in grafana["panels"] if p["type"] == "timeseries"]
    assert [p["title"] for p in timeseries] == [p["title"] for row in spec["rows"] for p in row["panels"]]
    assert len({p["id"] for p in grafana["panels"]}) == len(grafana["panels"])


@pytest.mark.skipif(not PROMTOOL, reason="promtool not on PATH (Debian's prometheus; .ci/run installs it)")
def test_every_expression_parses(tmp_path) -> None:
    exprs = render.expressions(render.load())
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"trackai:dashboard:{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}  # fmt: skip
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.integration
def test_every_panel_reads_exported_metrics(exported_metrics) -> None:
    for expr in render.expressions(render.load()):
        missing = metrics_in(expr) - exported_metrics
        assert not missing, f"{expr} reads metrics nobody exports: {sorted(missing)}"


@pytest.mark.skipif(
    not PROMETHEUS, reason="prometheus not on PATH (Debian's prometheus; .ci/run installs it)"
)
def test_prometheus_serves_the_console_page(processes) -> None:
    port = free_port()
    config = processes.log_dir / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    url = f"http://127.0.0.1:{port}/consoles/{render.CONSOLE.name}"
    processes.start(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={processes.log_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.console.templates={render.CONSOLE.parent}",
            f"--web.console.libraries={render.CONSOLE.parent}",
        ],
        ready=f"http://127.0.0.1:{port}/-/ready",
        timeout=30,
    )
    page = httpx.get(url, timeout=5)
    assert page.status_code == 200, page.text[:500]
    spec = render.load()
    for row in spec["rows"]:
        for panel in row["panels"]:
            assert f'<h3 class="panel">{panel["title"]}</h3>' in page.text.replace("&#39;", "'")
    assert page.text.count("no data") == len(render.expressions(spec))  # nothing scraped: every series empty
    assert "/graph?g0.range_input=1h" in page.text
