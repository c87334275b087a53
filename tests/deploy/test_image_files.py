"""The image and the single-node stack, checked without podman: every process the compose file, the
Kubernetes manifests and Dagster's chart start is one the entrypoint knows; every TRACKAI_* variable they set
is a setting; the stack has the services the issue lists and reads only files deploy/stack.sh writes.
(tests/deploy/test_container_smoke.py runs the image itself.)"""

from __future__ import annotations

import re
import subprocess

import yaml

from trackai.settings import REPO_ROOT, env_example

DEPLOY = REPO_ROOT / "deploy"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
GRAFANA = yaml.safe_load((DEPLOY / "compose.grafana.yaml").read_text())


def _entrypoint_roles() -> set[str]:
    text = ENTRYPOINT.read_text()
    cases = text[text.index('case "$role" in') :]
    return {name for pattern in re.findall(r"^  ([a-z|-]+)\)", cases, re.M) for name in pattern.split("|")}


def test_entrypoint_is_valid_bash_and_handles_every_role_started_anywhere() -> None:
    assert subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True).returncode == 0
    roles = _entrypoint_roles()
    started = {
        svc["command"][0] for svc in COMPOSE["services"].values() if svc.get("image", "").find("trackai:") > 0
    }
    started |= {"ingest", "console", "ops-exporter", "migrate"}  # deploy/k8s args
    started |= {"dagster"}  # Dagster's chart: args ["dagster", "code-server", "start", ...] and run pods
    assert started <= roles, started - roles
    assert {"code-server", "webserver", "daemon", "healthcheck", "capi-mock"} <= roles


def test_containerfile_is_parameterised_non_root_and_healthchecked() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert re.search(r"^ARG BASE=docker\.io/library/python:3\.11-slim", text, re.M)
    assert re.search(r"^FROM \$\{BASE\}", text, re.M)
    assert re.search(r"^USER 10001", text, re.M)
    assert "-c /app/constraints.txt" in text and "trackai dbt prepare" in text
    assert re.search(r'^HEALTHCHECK .*\n\s+CMD \["/app/deploy/entrypoint.sh", "healthcheck"\]', text, re.M)
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".trackai", ".env", "dbt/target"} <= set(ignored)


def test_every_trackai_variable_in_deploy_files_is_a_setting() -> None:
    known = set(re.findall(r"\b(TRACKAI_[A-Z0-9_]+)=", env_example()))
    files = [
        p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in ("", ".sh", ".yaml", ".yml", ".conf")
    ]
    files += [REPO_ROOT / "Makefile", REPO_ROOT / ".ci" / "run"]
    for path in files:
        for name in re.findall(r"\b(TRACKAI_[A-Z0-9_]*[A-Z0-9])\b", path.read_text()):
            assert name in known, (
                f"{path.relative_to(REPO_ROOT)}: {name} is not a field of trackai/settings.py"
            )


def test_the_stack_has_the_services_the_issue_lists() -> None:
    services = COMPOSE["services"]
    for name in ("postgres", "migrate", "ingest-1", "ingest-2", "proxy", "console", "code", "webserver",
                 "daemon", "ops-exporter", "prometheus", "alertmanager"):  # fmt: skip
        assert name in services, name
    assert "grafana" in GRAFANA["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["ingest-1"]["command"] == services["ingest-2"]["command"] == ["ingest"]
    nginx = (DEPLOY / "nginx" / "trackai.conf").read_text()
    assert "server ingest-1:8000" in nginx and "server ingest-2:8000" in nginx
    mounts = " ".join(services["prometheus"]["volumes"])
    assert (
        "docs/ops/prometheus-alerts.yml" in mounts
        and "dispatch-alerts.yml" in mounts
        and "consoles" in mounts
    )
    assert any("docs/ops/alertmanager.yml" in v for v in services["alertmanager"]["volumes"])
    assert any("grafana/dashboards" in v for v in GRAFANA["services"]["grafana"]["volumes"])


def test_the_stack_reads_only_files_its_script_writes() -> None:
    script = (DEPLOY / "stack.sh").read_text()
    written = set(re.findall(r'"\$STATE/([a-z]+\.env)"', script))
    referenced = set()
    for svc in COMPOSE["services"].values():
        env_files = svc.get("env_file", [])
        referenced |= {p.rsplit("/", 1)[1] for p in env_files}
    assert referenced and referenced <= written, referenced - written
    assert "secrets" in script and "alerting" in script
