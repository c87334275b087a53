"""Incident to page (issue 20): how long from "Meta's Graph API starts failing" to "PagerDuty is called".

The real alert path, on loopback: the ingest service and the ops exporter are scraped by Prometheus
(deploy/prometheus/prometheus.yml with its job names, the shipped rules of docs/ops/prometheus-alerts.yml and
deploy/prometheus/dispatch-alerts.yml), which notifies Alertmanager (docs/ops/alertmanager.yml: routes,
inhibitions, templates); only the receivers' URLs point at a local HTTP server, and the scrape/evaluation
intervals are 1 s instead of 15 s. Steady traffic: a signed Stripe webhook every second, and a dispatcher
that runs the micro-batch and dispatch back to back (the sensor does it every minute in production).
At t0 the Graph API fake starts answering HTTP 500; the test waits for the page and prints the timeline.

The paging rule's group keeps its shipped 5 s evaluation interval. Production adds to the measured figure: up
to one sensor interval (60 s) before the first failing run, and up to one scrape of the ops exporter (5 s
instead of 1 s); docs/deploy.md has the arithmetic.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.processes import trackai, wait_until
from tests.support.receiver import LoopbackReceiver
from trackai import db
from trackai.net import free_port as _free_port
from trackai.settings import REPO_ROOT

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
SEED_TARGET_SECONDS = 120.0  # the seeds: an incident pages in under 2 minutes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (PROMETHEUS and ALERTMANAGER),
        reason="needs Debian's prometheus and prometheus-alertmanager (.ci/run installs them)",
    ),
]


def pages(receiver: LoopbackReceiver, alertname: str) -> list[tuple[float, dict]]:
    """PagerDuty Events API triggers that name ``alertname``, with their arrival time."""
    return [
        (r.at, body)
        for r in receiver.received("/pagerduty")
        if (body := r.json()).get("event_action") == "trigger" and alertname in json.dumps(body)
    ]


def alertmanager_test_config(receiver_url: str, tmp: Path) -> Path:
    """The shipped Alertmanager config with only the receivers' endpoints and secrets swapped for loopback."""
    source = REPO_ROOT / "docs" / "ops" / "alertmanager.yml"
    config = yaml.safe_load(source.read_text())
    config["global"].pop("slack_api_url_file", None)
    config["templates"] = [str(source.parent / t) for t in config["templates"]]
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd.pop("routing_key_file", None)
            pd["routing_key"] = "test-routing-key"
            pd["url"] = f"{receiver_url}/pagerduty"
        for slack in receiver.get("slack_configs", []):
            slack["api_url"] = f"{receiver_url}/slack"
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_test_config(targets: dict[str, str], alertmanager: str, tmp: Path) -> Path:
    """The shipped Prometheus config with 1 s intervals and loopback targets (same job names and rules)."""
    source = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(source.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [
        str(REPO_ROOT / "docs" / "ops" / "prometheus-alerts.yml"),
        str(REPO_ROOT / "deploy" / "prometheus" / "dispatch-alerts.yml"),
    ]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job_name, target in targets.items():
        jobs[job_name]["static_configs"] = [{"targets": [target]}]
        jobs[job_name].pop("scrape_interval", None)
        jobs[job_name].pop("scrape_timeout", None)
    config["scrape_configs"] = [jobs[name] for name in targets]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _post_purchase(client: httpx.Client, tenant_id: str, secret: str, n: int) -> int:
    from trackai_cli.gateway_samples import build_payload
    from trackai_cli.gateway_signing import sign_request

    payload = build_payload("stripe", order_id=f"inc-{n}-{os.getpid()}", email=f"buyer{n}@example.com")
    headers, query, body = sign_request("stripe", secret, json.dumps(payload).encode())
    return client.post(
        f"/api/v1/webhooks/stripe/{tenant_id}", content=body, headers=headers, params=query
    ).status_code


def test_graph_api_failure_pages_within_the_seed_target(
    pg_url, make_tenant, tmp_path, http_receiver, processes
):
    from trackai.dispatch.engine import run_dispatch
    from trackai.pipeline.batch import run_batch

    tenant_id, secrets = make_tenant()
    ports = {name: _free_port() for name in ("capi", "ingest", "ingest_metrics", "ops", "am", "prom")}
    env = {**os.environ, "TRACKAI_DATABASE_URL": pg_url, "TRACKAI_LOG_LEVEL": "WARNING"}
    receiver, procs = http_receiver, processes  # stand-ins for PagerDuty's Events API and Slack's webhook
    stop = threading.Event()
    timeline: dict[str, float] = {}
    try:
        mock = f"http://127.0.0.1:{ports['capi']}"
        prom = f"http://127.0.0.1:{ports['prom']}"
        procs.start(
            "capi-mock", trackai("capi-mock", "--port", str(ports["capi"])), env, ready=f"{mock}/_mock/stats"
        )
        procs.start(
            "ingest",
            trackai("serve", "--port", str(ports["ingest"])),
            {**env, "TRACKAI_METRICS_PORT": str(ports["ingest_metrics"])},
            ready=f"http://127.0.0.1:{ports['ingest']}/ready",
        )
        procs.start(
            "ops-exporter",
            trackai("ops-exporter", "--port", str(ports["ops"])),
            {**env, "TRACKAI_METRICS_DATABASE_URL": db.with_user(pg_url, "trackai_metrics")},
        )
        am_config = alertmanager_test_config(receiver.url, tmp_path)
        procs.start(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={am_config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{ports['am']}",
                "--cluster.listen-address=",
            ],
            ready=f"http://127.0.0.1:{ports['am']}/-/ready",
        )
        prom_config = prometheus_test_config(
            {
                "trackai-ingest": f"127.0.0.1:{ports['ingest_metrics']}",
                "trackai-ops": f"127.0.0.1:{ports['ops']}",
            },
            f"127.0.0.1:{ports['am']}",
            tmp_path,
        )
        procs.start(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{ports['prom']}",
            ],
            ready=f"{prom}/-/ready",
        )
        env_settings = {"TRACKAI_META_GRAPH_URL": mock}
        os.environ.update(env_settings)  # the in-process dispatcher reads the fake's URL from the settings
        from trackai.settings import reset_settings_cache

        reset_settings_cache()

        answers: list[int] = []

        def feed() -> None:  # one purchase per second, signed like Stripe signs it
            with httpx.Client(base_url=f"http://127.0.0.1:{ports['ingest']}", timeout=5) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    answers.append(_post_purchase(client, tenant_id, secrets["stripe"], n))
                    stop.wait(1.0)

        def dispatch() -> None:  # what micro_batch_job does on each sensor tick, back to back
            while not stop.is_set():
                run_batch(pg_url, mode="incremental")
                run_dispatch(pg_url)
                stop.wait(0.5)

        crashed: list[BaseException] = []

        def guarded(work):
            def run() -> None:
                try:
                    work()
                except BaseException as exc:
                    crashed.append(exc)

            return run

        def diagnose() -> str:
            targets = httpx.get(f"{prom}/api/v1/targets").json()["data"]["activeTargets"]
            logs = procs.logs()
            return (
                f"threads crashed: {crashed!r}; webhook answers: {sorted(set(answers))}; "
                f"fake: {httpx.get(f'{mock}/_mock/stats').json()}; "
                f"targets: {[(t['labels']['job'], t['health'], t['lastError']) for t in targets]}; logs: {logs}"
            )

        threads = [threading.Thread(target=guarded(f), daemon=True) for f in (feed, dispatch)]
        for thread in threads:
            thread.start()

        def scraped_successes() -> bool:
            result = httpx.get(
                f"{prom}/api/v1/query", params={"query": 'trackai_capi_attempts_total{status="success"}'}
            )
            values = result.json()["data"]["result"]
            return bool(values) and float(values[0]["value"][1]) > 0

        try:
            wait_until(scraped_successes, "a healthy baseline (successful sends scraped)", timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {diagnose()}") from None
        firing = httpx.get(f"{prom}/api/v1/alerts").json()["data"]["alerts"]
        assert [a["labels"]["alertname"] for a in firing] == [], firing
        assert receiver.received() == []

        t0 = time.monotonic()
        assert httpx.post(f"{mock}/_mock/config", json={"fail_rate": 1.0}).status_code == 200

        deadline = t0 + 300
        while time.monotonic() < deadline and not pages(receiver, "TrackAICapiUnavailable"):
            alerts = httpx.get(f"{prom}/api/v1/alerts").json()["data"]["alerts"]
            for alert in alerts:
                if alert["labels"]["alertname"] == "TrackAICapiUnavailable":
                    timeline.setdefault(f"rule {alert['state']}", time.monotonic() - t0)
            if "breaker open (exporter)" not in timeline:
                query = 'sum(trackai_capi_breakers{state=~"open|half_open"})'
                result = httpx.get(f"{prom}/api/v1/query", params={"query": query}).json()["data"]["result"]
                if result and float(result[0]["value"][1]) > 0:
                    timeline["breaker open (exporter)"] = time.monotonic() - t0
            if "5 failures in a row (exporter)" not in timeline:
                query = "max(trackai_capi_consecutive_failures_max)"
                result = httpx.get(f"{prom}/api/v1/query", params={"query": query}).json()["data"]["result"]
                if result and float(result[0]["value"][1]) >= 5:
                    timeline["5 failures in a row (exporter)"] = time.monotonic() - t0
            if "first failure scraped" not in timeline:
                query = 'trackai_capi_attempts_total{status="retryable_error"}'
                result = httpx.get(f"{prom}/api/v1/query", params={"query": query}).json()["data"]["result"]
                if result and float(result[0]["value"][1]) > 0:
                    timeline["first failure scraped"] = time.monotonic() - t0
            time.sleep(0.25)
        paged = pages(receiver, "TrackAICapiUnavailable")
        assert set(answers) == {200}, answers
        posts = [(r.path, r.json()) for r in receiver.received()]
        assert paged, f"no page within 300 s; timeline {timeline}; posts {posts}; {diagnose()}"
        page_at, page = paged[0]
        timeline["PagerDuty called"] = page_at - t0
    finally:
        stop.set()
        procs.stop()
        os.environ.pop("TRACKAI_META_GRAPH_URL", None)
    print(
        "incident-to-page timeline (s after the Graph API fake started failing): "
        + ", ".join(f"{k} {v:.1f}" for k, v in sorted(timeline.items(), key=lambda kv: kv[1]))
    )
    assert page["routing_key"] == "test-routing-key"
    assert page["payload"]["severity"] == "critical"
    assert "TrackAICapiUnavailable" in page["payload"]["summary"]
    assert any(link["href"].endswith("docs/runbooks/circuit-breaker.md") for link in page["links"])
    slack = receiver.json_bodies("/slack")
    assert any("TrackAICapiUnavailable" in json.dumps(body) for body in slack)  # critical goes to Slack too
    assert timeline["PagerDuty called"] < SEED_TARGET_SECONDS, timeline
