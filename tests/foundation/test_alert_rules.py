"""The Prometheus alert rules (docs/ops/prometheus-alerts.yml) are valid and their unit tests pass.

promtool comes from Debian's ``prometheus`` package (.ci/run installs it); without it the promtool tests
are skipped with that reason, while the coverage check below (every rule has a firing and a quiet case)
always runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from trackai.settings import REPO_ROOT

OPS = REPO_ROOT / "docs" / "ops"
RULES = OPS / "prometheus-alerts.yml"
RULE_TESTS = OPS / "prometheus-alerts.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus; .ci/run does it)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=OPS, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_promtool_check_rules() -> None:
    out = _promtool("check", "rules", RULES.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    out = _promtool("test", "rules", RULE_TESTS.name)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {
        r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r
    }
    suite = yaml.safe_load(RULE_TESTS.read_text())
    assert suite["rule_files"] == [RULES.name]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts and alerts == firing, f"alerts without a firing case: {sorted(alerts - firing)}"
    assert alerts == quiet, f"alerts without a quiet case: {sorted(alerts - quiet)}"


def test_rules_read_only_metrics_the_ingest_service_exports() -> None:
    """A renamed metric would leave its alert silently empty: every ``trackai_*`` name in a rule or in a
    rule test's input series must be one the service's registry exports (Counters as ``_total``,
    Histograms as ``_bucket/_sum/_count``)."""
    from ingest_service.core.metrics import Metrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported = {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    series = [s["series"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for s in t["input_series"]]
    referenced = {name for text in exprs + series for name in re.findall(r"\btrackai_[a-z_]+", text)}
    assert referenced and referenced <= exported, f"not exported: {sorted(referenced - exported)}"
