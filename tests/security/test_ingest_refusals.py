"""Issue 22, findings 5 and 4, against a real ``trackai serve`` over loopback.

Finding 5: 2,000 forged webhooks from one address used to leave 2,000 rejection rows and 2,000 log lines,
got no 429, and failed the webhook success-rate alarm; half-sent bodies logged ClientDisconnect tracebacks
and counted as 5xx. Finding 4: any path segment became a ``gateway`` label value (300 made-up names added
~630 series) and the public /metrics listed tenant ids with their refusal reasons.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from dagster_project.defs.quality.alarms import ALARMS, run_alarm
from dagster_project.defs.quality.config import AlarmThresholds
from tests.security.ingest_attack import (
    forged_webhooks,
    free_port,
    fresh_window,
    half_sent_body,
    metric_lines,
    start_service,
    stop_service,
)
from trackai import tenants
from trackai.core.gateways import ADAPTERS
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration
FLUSH_SECONDS = 2


class Service:
    def __init__(self, proc, base: str, metrics_port: int, log_path) -> None:
        self.proc, self.base, self.log_path = proc, base, log_path
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=5).text

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def service(pg_url: str, tmp_path_factory):
    metrics_port = free_port()
    log_path = tmp_path_factory.mktemp("refusals") / "ingest.log"
    env = {
        "TRACKAI_METRICS_PORT": str(metrics_port),
        "TRACKAI_REFUSAL_FLUSH_SECONDS": str(FLUSH_SECONDS),
        "TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN": "10000",
    }
    proc, base = start_service(pg_url, free_port(), log_path, env)
    assert proc.poll() is None, log_path.read_text()[-2000:]
    yield Service(proc, base, metrics_port, log_path)
    stop_service(proc)


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The sum of the series of ``name`` carrying all of ``labels`` (None when there is none)."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metric_lines(text)
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    ]
    return sum(values) if values else None


def _eventually(check, timeout: float = 30.0):
    """``check()`` once it is truthy (the flusher lands counts every FLUSH_SECONDS), else its last value."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def test_forged_webhooks_are_limited_aggregated_and_kept_out_of_the_alarm(service, conn) -> None:
    tenant_id, secrets = tenants.create_tenant_with_every_gateway(conn, "forged target")
    real = 400
    with httpx.Client(base_url=service.base, timeout=10) as client:  # the platform's real traffic
        for i in range(real):
            gateway = tuple(ADAPTERS)[i % 4]
            body = json.dumps(build_payload(gateway, order_id=f"real-{i}")).encode()
            headers, query, body = sign_request(gateway, secrets[gateway], body)
            r = client.post(
                f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers, params=query
            )
            assert r.status_code == 200, r.text
    lines_before = len(service.log_lines())
    fresh_window()
    first_minute = int(time.time() // 60)
    statuses = forged_webhooks(service.base, tenant_id, 2000, address="203.0.113.66")
    windows = int(time.time() // 60) - first_minute + 1  # budgets are per minute window

    # One address: refused at most its budgets (60 unattributed a minute, 5 for the real tenant, + the
    # requests in flight when a budget ran out), then 429 (before any work once the 60 are used up).
    refused = statuses[401] + statuses[404]
    assert refused <= 80 * windows and statuses[429] == 2000 - refused, statuses

    def landed():
        row = conn.execute(
            "SELECT count(*), sum(hits), coalesce(sum(hits) FILTER (WHERE tenant_id IS NOT NULL), 0)"
            " FROM landing.webhook_rejections"
        ).fetchone()
        return row if row[1] == 2000 else None

    rows, hits, known = _eventually(landed) or (None, None, None)
    assert hits == 2000  # every refusal is counted ...
    keys = conn.execute(
        "SELECT count(*) FROM (SELECT DISTINCT created_at, tenant_id, gateway, reason, http_status"
        " FROM landing.webhook_rejections) k"
    ).fetchone()[0]
    # ... as one row per (minute, tenant, gateway, reason, status) and flush (every 2 s here, 10 s by
    # default), not one row each.
    assert keys <= 20 * windows and rows <= 100 * windows, (keys, rows)
    assert known <= (5 + 8) * windows, known  # the real tenant's share: its per-address budget
    assert conn.execute(
        "SELECT count(*) FROM landing.webhook_rejections"
        " WHERE gateway NOT IN ('perfectpay', 'hotmart', 'kiwify', 'stripe', 'invalid')"
    ).fetchone() == (0,)

    def logged():
        new = service.log_lines()[lines_before:]
        done = sum(e.get("events", 0) for e in new if e["msg"] == "webhook refusals") == 2000
        return new if done else None

    new = _eventually(logged)
    assert new, "the refusal counts were not logged"
    assert not [e for e in new if e["msg"] == "webhook refused"]  # no line per refusal at INFO
    assert len(new) <= rows  # one line per landed row

    spec = next(s for s in ALARMS if s.name == "webhook_success_rate")
    alarm = run_alarm(conn, spec, AlarmThresholds())
    assert alarm.passed, alarm
    assert alarm.details["rejected"] == known and alarm.details["accepted"] == real
    text = service.metrics()
    limited = _sample(text, "trackai_ingest_webhook_refusals_unattributed_total", reason="address_limited")
    assert limited == statuses[429]


def test_half_sent_bodies_are_a_quiet_4xx(service, conn) -> None:
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "half sent")
    port = int(service.base.rsplit(":", 1)[1])
    lines_before = len(service.log_path.read_text().splitlines())
    for _ in range(5):
        half_sent_body(
            port,
            f"/api/v1/webhooks/hotmart/{tenant_id}",
            b"{" + b" " * 20000 + b"}",
            {"X-HOTMART-HOTTOK": "x", "X-Forwarded-For": "198.18.7.7"},
        )
    time.sleep(0.5)
    new_text = "\n".join(service.log_path.read_text().splitlines()[lines_before:])
    assert "Traceback" not in new_text and "ClientDisconnect" not in new_text, new_text[-2000:]
    text = service.metrics()
    assert _sample(text, "trackai_ingest_requests_total", status="499") == 5
    assert not [line for line in metric_lines(text) if re.search(r'status="5\d\d"', line)]


def test_metrics_are_private_and_bounded(service, conn) -> None:
    tenant_id, _ = tenants.create_tenant_with_every_gateway(conn, "metrics target")
    assert httpx.get(service.base + "/metrics").status_code == 404  # not on the public port
    before = service.metrics()
    for gateway in ADAPTERS:  # the series the alert rules read exist from the start
        for outcome in ("accepted", "duplicate", "quarantined"):
            assert (
                _sample(before, "trackai_ingest_webhooks_total", gateway=gateway, outcome=outcome) is not None
            )
        assert (
            _sample(before, "trackai_ingest_webhook_rejections_total", gateway=gateway, reason="rate_limited")
            is not None
        )
    names = [f"gw{i:03d}x{time.time_ns() % 10**6}" for i in range(300)]
    with httpx.Client(base_url=service.base, timeout=10) as client:
        for i, name in enumerate(names):  # one request per address: the per-address budgets never apply
            r = client.post(
                f"/api/v1/webhooks/{name}/{tenant_id}",
                content=b"{}",
                headers={"X-Forwarded-For": f"198.19.{i // 250}.{i % 250 + 1}"},
            )
            assert r.status_code == 404
    after = service.metrics()
    new_series = set(metric_lines(after)) - set(metric_lines(before))
    grown = len(metric_lines(after)) - len(metric_lines(before))
    assert grown <= 4, sorted(new_series)  # invalid: one requests series and one refusal series
    assert not any(name in after for name in names)
    assert tenant_id not in after and tenant_id not in before
    series = (
        "trackai_ingest_webhook_refusals_unattributed_total",
        {"gateway": "invalid", "reason": "unknown_gateway"},
    )
    assert _sample(after, series[0], **series[1]) - (_sample(before, series[0], **series[1]) or 0) == 300
