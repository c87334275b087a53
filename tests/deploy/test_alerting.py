"""Alerting that reaches people: the dispatch rules (deploy/prometheus/dispatch-alerts.yml) and their promtool
unit tests, the Alertmanager config (docs/ops/alertmanager.yml) under amtool, and the wiring between them:
every alert of both rule files is routed by severity, names a runbook that exists, and reads only metrics
that are exported. The ingest rules' own tests are tests/foundation/test_alert_rules.py."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.conftest import metrics_in
from trackai.settings import REPO_ROOT

PROM_DIR = REPO_ROOT / "deploy" / "prometheus"
DISPATCH_RULES = PROM_DIR / "dispatch-alerts.yml"
DISPATCH_TESTS = PROM_DIR / "dispatch-alerts.test.yml"
RULE_FILES = (REPO_ROOT / "docs" / "ops" / "prometheus-alerts.yml", DISPATCH_RULES)
ALERTMANAGER = REPO_ROOT / "docs" / "ops" / "alertmanager.yml"
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    not PROMTOOL, reason="promtool not on PATH (Debian's prometheus; .ci/run)"
)
needs_amtool = pytest.mark.skipif(
    not AMTOOL, reason="amtool not on PATH (Debian's prometheus-alertmanager; .ci/run installs it)"
)


def _alerts() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@needs_promtool
def test_promtool_checks_and_unit_tests_pass() -> None:
    for args in (("check", "rules", DISPATCH_RULES.name), ("test", "rules", DISPATCH_TESTS.name)):
        out = subprocess.run([PROMTOOL, *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "SUCCESS" in out.stdout


def test_every_dispatch_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(DISPATCH_RULES.read_text())["groups"] for r in g["rules"]}
    suite = yaml.safe_load(DISPATCH_TESTS.read_text())
    firing = {c["alertname"] for t in suite["tests"] for c in t["alert_rule_test"] if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in suite["tests"] for c in t["alert_rule_test"] if not c.get("exp_alerts")}
    assert alerts == firing, f"without a firing case: {sorted(alerts - firing)}"
    assert alerts == quiet, f"without a quiet case: {sorted(alerts - quiet)}"


@needs_amtool
def test_amtool_check_config() -> None:
    out = subprocess.run(
        [AMTOOL, "check-config", ALERTMANAGER.name], cwd=ALERTMANAGER.parent, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=TrackAICapiUnavailable", "severity=critical"], "pagerduty,slack"),
        (["alertname=TrackAIIngestDown", "severity=critical"], "pagerduty,slack"),
        (["alertname=TrackAIDlqGrowing", "severity=warning"], "slack"),
        (["alertname=Unlabelled"], "slack"),
    ],
)
def test_critical_pages_pagerduty_and_slack_warning_goes_to_slack(labels, receivers) -> None:
    out = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == receivers


def test_every_alert_has_a_severity_a_summary_and_a_runbook_that_exists() -> None:
    for rule in _alerts():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert (REPO_ROOT / rule["annotations"]["runbook"]).is_file(), rule["alert"]


def test_inhibition_names_only_alerts_that_exist() -> None:
    import re

    names = {rule["alert"] for rule in _alerts()}
    config = yaml.safe_load(ALERTMANAGER.read_text())
    for inhibit in config["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            name, op, value = re.match(r'(\w+)(=~|=)"(.*)"', matcher).groups()
            assert name == "alertname"
            matched = {n for n in names if re.fullmatch(value, n)} if op == "=~" else {value} & names
            assert matched, f"inhibition matcher {matcher} matches no alert"


@pytest.mark.integration
def test_dispatch_rules_read_only_exported_metrics(exported_metrics) -> None:
    for rule in yaml.safe_load(DISPATCH_RULES.read_text())["groups"][0]["rules"]:
        missing = metrics_in(rule["expr"]) - exported_metrics
        assert not missing, f"{rule['alert']} reads metrics nobody exports: {sorted(missing)}"
