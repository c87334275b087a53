"""R6 Postgres restart under load: the database goes away while a gateway-like client is posting.

The test runs its own throwaway Postgres cluster (pgserver's binaries, a free loopback port) so it can
stop it without touching the machine's server or the repo's embedded one. A real ``trackai serve``
lands a stream of signed webhooks; the cluster is stopped (``pg_ctl -m immediate``, a crash) for
several seconds and started again. While it is down the service answers 503 with ``Retry-After`` (and
/ready says not ready); when it returns the service recovers by itself, without a restart; and every
webhook that was ever acknowledged is in Postgres exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import httpx
import psycopg
import pytest

from trackai import db, migrations, tenants
from trackai.settings import REPO_ROOT
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

from ._ingest_process import (
    GatewaySender,
    IngestProcess,
    PrivatePostgres,
    conversion_count,
    duplicate_conversions,
    landed_counts,
    make_webhooks,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

WEBHOOKS = int(os.environ.get("TRACKAI_RELIABILITY_R6_WEBHOOKS", "1500"))
STOP_AFTER_ACKS = 300
OUTAGE_SECONDS = 6.0
RECOVERY_LIMIT = 30.0
STOP_MODE = "immediate"  # a crash: the WAL must still hold every acknowledged row


def _tenant(url: str) -> tuple[str, dict[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return tenants.create_tenant_with_every_gateway(conn, "R6 seller")


def test_postgres_restart_503_with_retry_after_then_recovers_and_loses_nothing(
    tmp_path, record_figures
) -> None:
    started = time.monotonic()
    pg = PrivatePostgres()
    service: IngestProcess | None = None
    probes: list[dict] = []
    ready_during_outage: Counter = Counter()
    timeline: dict[str, float] = {}
    try:
        pg.init()
        pg.start()
        url = db.with_database(pg.url, "trackai_r6")
        db.ensure_database(pg.url, "trackai_r6")
        migrations.upgrade(url, REPO_ROOT / "sql")
        tenant_id, secrets = _tenant(url)
        hooks = make_webhooks([(tenant_id, secrets)], WEBHOOKS, prefix="r6")

        service = IngestProcess(url, tmp_path / "ingest.log")
        service.start()
        service.wait_ready(timeout=90)
        sender = GatewaySender(service.base_url, concurrency=10, deadline=180, max_backoff=1.0)
        stats = sender.stats
        probe_n = iter(range(10**6))

        async def probe(client: httpx.AsyncClient, phase: str) -> dict:
            """One fresh signed webhook (hotmart) and, at the same time, GET /ready, as a monitor would."""
            payload = build_payload("hotmart", order_id=f"r6-probe-{next(probe_n)}")
            headers, params, body = sign_request("hotmart", secrets["hotmart"], json.dumps(payload).encode())
            sent = time.monotonic()
            webhook, ready = await asyncio.gather(
                client.post(
                    f"/api/v1/webhooks/hotmart/{tenant_id}", content=body, headers=headers, params=params
                ),
                client.get("/ready"),
                return_exceptions=True,
            )
            result = {
                "phase": phase,
                "status": getattr(webhook, "status_code", None),
                "retry_after": webhook.headers.get("retry-after")
                if isinstance(webhook, httpx.Response)
                else None,
                "ready": getattr(ready, "status_code", None),
                "seconds": round(time.monotonic() - sent, 2),
                "detail": webhook.text[:200] if isinstance(webhook, httpx.Response) else repr(webhook),
                "event_id": payload["id"],
            }
            probes.append(result)
            return result

        async def scenario() -> None:
            sending = asyncio.create_task(sender.send_all(hooks))
            try:
                async with httpx.AsyncClient(base_url=service.base_url, timeout=15.0) as client:
                    await wait_for(
                        lambda: stats.acknowledged >= STOP_AFTER_ACKS or sending.done(),
                        timeout=120,
                        what=f"{STOP_AFTER_ACKS} acknowledgements",
                    )
                    assert not sending.done(), "the client finished before the outage"
                    timeline["acknowledged_at_stop"] = stats.acknowledged
                    timeline["in_flight_at_stop"] = stats.in_flight
                    timeline["stop_command_s"] = await asyncio.to_thread(pg.stop, STOP_MODE)
                    down_at = time.monotonic()
                    acked_when_down = stats.acknowledged
                    # A probe every 0.5 s; each may wait for the pool's timeout, so they overlap. All
                    # of them finish before the database comes back.
                    outage_probes = []
                    while time.monotonic() - down_at < OUTAGE_SECONDS:
                        outage_probes.append(asyncio.create_task(probe(client, "outage")))
                        await asyncio.sleep(0.5)
                    for result in await asyncio.gather(*outage_probes):
                        ready_during_outage[result["ready"]] += 1
                    timeline["acknowledged_while_down"] = stats.acknowledged - acked_when_down
                    timeline["start_command_s"] = await asyncio.to_thread(pg.start)
                    up_at = time.monotonic()
                    timeline["outage_s"] = up_at - down_at
                    # Recovery: the service, never restarted, lands a fresh webhook and reports ready.
                    while True:
                        result = await probe(client, "recovery")
                        if result["status"] == 200 and result["ready"] == 200:
                            break
                        assert time.monotonic() - up_at < RECOVERY_LIMIT, probes[-5:]
                        await asyncio.sleep(0.1)
                    timeline["recovery_s"] = time.monotonic() - up_at
                await asyncio.wait_for(sending, timeout=180)
            finally:
                if not sending.done():
                    sending.cancel()

        asyncio.run(scenario())
        service_alive = service.is_running()
        service.stop()

        with psycopg.connect(url, autocommit=True) as conn:
            landed = landed_counts(conn, [tenant_id])
            conversions = conversion_count(conn, [tenant_id])
            double_conversions = duplicate_conversions(conn, [tenant_id])
    finally:
        if service is not None:
            service.stop()
        pg_log = pg.log_tail()
        pg.destroy()

    acked = set(stats.acked)
    hook_keys = {h.key for h in hooks}
    missing = [k for k in acked if landed.get(k, 0) == 0]
    duplicated = {k: n for k, n in landed.items() if n != 1}
    outage = [p for p in probes if p["phase"] == "outage"]
    acked_probes = [p for p in probes if p["status"] == 200]
    probe_keys = {(tenant_id, "hotmart", p["event_id"]) for p in probes}
    acked_probe_keys = {(tenant_id, "hotmart", p["event_id"]) for p in acked_probes}
    figures = {
        **stats.figures(),
        "retry_after_on_503": stats.retry_after_seen.get(503, 0),
        "503_without_retry_after": stats.missing_retry_after,
        "stop_mode": STOP_MODE,
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in timeline.items()},
        "probes_during_outage": len(outage),
        "probe_statuses_during_outage": dict(Counter(p["status"] for p in outage)),
        "ready_statuses_during_outage": dict(ready_during_outage),
        "probe_retry_after_values": sorted({p["retry_after"] for p in outage if p["retry_after"]}),
        "service_starts": service.starts if service else 0,
        "found_in_postgres": sum(1 for k in acked if landed.get(k, 0) >= 1),
        "rows_in_postgres": sum(landed.values()),
        "duplicate_rows": sum(n - 1 for n in landed.values() if n > 1),
        "missing_acknowledged": len(missing),
        "conversion_rows": conversions,
        "duplicate_conversions": double_conversions,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    record_figures(figures)

    # The service was never restarted: it recovered by itself.
    assert service_alive and service.starts == 1, figures
    assert timeline["outage_s"] >= OUTAGE_SECONDS
    # While the database was down: 503 with Retry-After (never another 5xx), /ready not ready.
    assert len(outage) >= 8, probes
    assert all(p["status"] == 503 and p["retry_after"] for p in outage), outage
    assert all(int(p["retry_after"]) > 0 for p in outage)
    assert set(ready_during_outage) == {503}, ready_during_outage
    assert stats.statuses[503] > 0 and stats.missing_retry_after == 0, figures
    assert {s for s in stats.statuses if s >= 500} == {503}, figures
    # No 2xx without the database, beyond answers to commits made just before it went down.
    assert timeline["acknowledged_while_down"] <= sender.concurrency, timeline
    # It came back without help, within the bound.
    assert timeline["recovery_s"] < RECOVERY_LIMIT
    # Nothing acknowledged was lost, nothing landed twice; every webhook was eventually acknowledged.
    assert stats.unfinished == 0 and not stats.refused, figures
    assert stats.acknowledged == WEBHOOKS == len(acked), figures
    assert not missing, f"{len(missing)} acknowledged webhooks lost, e.g. {missing[:3]}; pg log:\n{pg_log}"
    assert not duplicated, list(duplicated.items())[:3]
    # Acknowledged probes landed too; nothing landed that nobody sent.
    assert acked_probe_keys <= set(landed) <= hook_keys | probe_keys
    assert conversions == len(landed) and double_conversions == 0, figures
