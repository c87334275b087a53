"""Kubernetes manifests (deploy/k8s/) and the values for Dagster's chart (deploy/helm/dagster-values.yaml):
schema-valid with kubernetes-validate (strict), hardened, wired to each other, and in step with the rest of
the repository (image tag = pyproject version, run queue limits = dagster_home/dagster.yaml, variables =
trackai/settings.py fields)."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from trackai.settings import REPO_ROOT, env_example

K8S = REPO_ROOT / "deploy" / "k8s"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "dagster-values.yaml"
KUBERNETES_VERSION = "1.30.0"
ENTRYPOINT_VARIABLES = {"WORKERS", "PORT"}  # read by deploy/entrypoint.sh, not by the settings


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _kind(kind: str) -> list[dict]:
    return [d for _, d in _documents() if d["kind"] == kind]


def _version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_every_manifest_is_schema_valid() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is a test extra (pip install -e .[test])"
    )
    docs = _documents()
    assert len(docs) >= 15
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_workloads_are_hardened_and_run_the_released_image() -> None:
    pods = [d["spec"]["template"]["spec"] for d in _kind("Deployment") + _kind("Job")]
    assert len(pods) == 4
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["image"].endswith(f":{_version()}"), container["image"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert "memory" in container["resources"]["limits"]


def test_ingest_scales_keeps_one_up_and_is_ready_only_when_migrated() -> None:
    (deployment,) = [d for d in _kind("Deployment") if d["metadata"]["name"] == "trackai-ingest"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["ingest"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (hpa,) = _kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "trackai-ingest"
    assert hpa["spec"]["minReplicas"] >= 2
    pdbs = {p["metadata"]["name"]: p for p in _kind("PodDisruptionBudget")}
    assert pdbs["trackai-ingest"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for service in _kind("Service"):  # every Service selects pods that exist
        selected = service["spec"]["selector"].items()
        assert any(
            selected <= d["spec"]["template"]["metadata"]["labels"].items() for d in _kind("Deployment")
        ), service["metadata"]["name"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (config,) = _kind("ConfigMap")
    assert str(ports["metrics"]) == config["data"]["TRACKAI_METRICS_PORT"]
    assert config["data"]["WORKERS"] == "1"  # one metrics port per pod


def test_every_variable_is_a_setting_and_every_secret_referenced_exists() -> None:
    known = set(re.findall(r"(TRACKAI_[A-Z0-9_]+)=", env_example())) | ENTRYPOINT_VARIABLES
    secrets = {s["metadata"]["name"]: s for s in _kind("Secret")}
    (config,) = _kind("ConfigMap")
    for key in config["data"]:
        assert key in known, f"ConfigMap key {key} is not a setting"
    for name, secret in secrets.items():
        for key in secret["stringData"]:
            assert key in known or name == "dagster-postgresql-secret", f"{name}: {key} is not a setting"
            assert "change-me" in secret["stringData"][key], (
                f"{name}/{key}: the example must hold no real secret"
            )
    refs = [
        source["secretRef"]["name"]
        for d in _kind("Deployment") + _kind("Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        for source in c["envFrom"]
        if "secretRef" in source
    ]
    helm = yaml.safe_load(HELM_VALUES.read_text())
    refs += [s["name"] for s in helm["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]]
    refs += [s["name"] for d in helm["dagster-user-deployments"]["deployments"] for s in d["envSecrets"]]
    refs.append(helm["global"]["postgresqlSecretName"])
    assert set(refs) <= set(secrets), set(refs) - set(secrets)


def test_dagster_chart_values_follow_the_single_node_instance() -> None:
    helm = yaml.safe_load(HELM_VALUES.read_text())
    instance = yaml.safe_load((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())
    queue = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert helm["runLauncher"]["type"] == "K8sRunLauncher"
    assert helm["postgresql"]["enabled"] is False and helm["generatePostgresqlPasswordSecret"] is False
    assert queue["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["tag"] == _version()
    assert pyproject["tool"]["dagster"]["module_name"] in deployment["codeServerArgs"]
    assert pyproject["tool"]["dagster"]["code_location_name"] in deployment["codeServerArgs"]


def test_kubernetes_prometheus_scrapes_the_jobs_the_rules_select() -> None:
    single = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    k8s = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus-kubernetes.yml").read_text())
    trackai_jobs = {j["job_name"] for j in single["scrape_configs"] if j["job_name"].startswith("trackai-")}
    assert trackai_jobs == {"trackai-ingest", "trackai-ops"}
    assert trackai_jobs <= {j["job_name"] for j in k8s["scrape_configs"]}
    rules = (REPO_ROOT / "docs" / "ops" / "prometheus-alerts.yml").read_text() + (
        REPO_ROOT / "deploy" / "prometheus" / "dispatch-alerts.yml"
    ).read_text()
    assert set(re.findall(r'job="([^"]+)"', rules)) <= trackai_jobs
