"""R1 crash under load: ``kill -9`` the ingest service while a gateway-like client posts signed webhooks.

10,000 distinct signed webhooks (the four gateways, four tenants) go to a real ``trackai serve`` on a
loopback port, from an asyncio (aiohttp) client with 20 in flight that retries like a gateway
(connection error, timeout, 5xx, 429 -> back off, post the same bytes again; 2xx or another 4xx ends
it). The service's whole process group gets SIGKILL twice mid-flight (after 30% and 70% of the
acknowledgements) and is restarted on the same port. Afterwards every webhook that ever got a 2xx is in Postgres exactly once, and nothing else is.

``TRACKAI_RELIABILITY_WEBHOOKS`` changes the count (default 10000, the issue's figure).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from ._ingest_process import (
    GatewaySender,
    IngestProcess,
    conversion_count,
    duplicate_conversions,
    landed_counts,
    make_webhooks,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

WEBHOOKS = int(os.environ.get("TRACKAI_RELIABILITY_WEBHOOKS", "10000"))
KILL_AT = (0.3, 0.7)  # fractions of the webhooks acknowledged when the service is killed
CONCURRENCY = 20
DEADLINE = 240.0


def test_kill_9_under_load_loses_and_duplicates_nothing(
    pg_url, conn, make_tenant, tmp_path, record_figures
) -> None:
    started = time.monotonic()
    tenants = [make_tenant(f"R1 seller {i}") for i in range(4)]
    tenant_ids = [t for t, _ in tenants]
    hooks = make_webhooks(tenants, WEBHOOKS, prefix="r1")
    assert len({h.key for h in hooks}) == WEBHOOKS

    service = IngestProcess(pg_url, tmp_path / "ingest.log")
    kills: list[dict] = []
    try:
        service.start()
        first_ready = service.wait_ready(timeout=90)
        sender = GatewaySender(service.base_url, concurrency=CONCURRENCY, deadline=DEADLINE)
        stats = sender.stats

        async def scenario() -> None:
            sending = asyncio.create_task(sender.send_all(hooks))
            try:
                for fraction in KILL_AT:
                    threshold = int(WEBHOOKS * fraction)
                    await wait_for(
                        lambda t=threshold: stats.acknowledged >= t or sending.done(),
                        timeout=DEADLINE,
                        what=f"{threshold} acknowledgements",
                    )
                    assert not sending.done(), "the client finished before the kill: nothing was under load"
                    in_flight = stats.in_flight
                    acked_at_kill = stats.acknowledged
                    killed = time.monotonic()
                    service.kill()
                    await asyncio.to_thread(service.start)
                    await asyncio.to_thread(service.wait_ready, 90)
                    kills.append(
                        {
                            "acknowledged_at_kill": acked_at_kill,
                            "in_flight_at_kill": in_flight,
                            "downtime_s": round(time.monotonic() - killed, 2),
                        }
                    )
                await asyncio.wait_for(sending, timeout=DEADLINE)
            finally:
                if not sending.done():
                    sending.cancel()

        send_started = time.monotonic()
        asyncio.run(scenario())
        send_seconds = time.monotonic() - send_started
    finally:
        service.stop()

    landed = landed_counts(conn, tenant_ids)
    acked = set(stats.acked)
    missing = [k for k in acked if landed.get(k, 0) == 0]
    duplicated = {k: n for k, n in landed.items() if n != 1}
    unacknowledged_rows = [k for k in landed if k not in acked]
    conversions = conversion_count(conn, tenant_ids)
    double_conversions = duplicate_conversions(conn, tenant_ids)

    figures = {
        **stats.figures(),
        "kills": kills,
        "service_starts": service.starts,
        "first_start_ready_s": round(first_ready, 2),
        "found_in_postgres": sum(1 for k in acked if landed.get(k, 0) >= 1),
        "rows_in_postgres": sum(landed.values()),
        "duplicate_rows": sum(n - 1 for n in landed.values() if n > 1),
        "missing_acknowledged": len(missing),
        "rows_never_acknowledged": len(unacknowledged_rows),
        "conversion_rows": conversions,
        "duplicate_conversions": double_conversions,
        "send_seconds": round(send_seconds, 1),
        "throughput_per_s": round(stats.attempts / send_seconds, 1),
        "runtime_s": round(time.monotonic() - started, 1),
    }
    record_figures(figures)

    assert len(kills) == len(KILL_AT), figures
    assert service.starts == len(KILL_AT) + 1
    # The kills really hit traffic: requests failed at the transport level and were retried.
    assert sum(stats.transport_errors.values()) > 0 and stats.retries > 0, figures
    # Every webhook was eventually acknowledged (the client retries until 2xx), none refused.
    assert stats.unfinished == 0 and not stats.refused, figures
    assert stats.acknowledged == WEBHOOKS == len(acked), figures
    # Every acknowledged webhook is in Postgres exactly once; no row that was never acknowledged.
    assert not missing, f"{len(missing)} acknowledged webhooks missing, e.g. {missing[:3]}"
    assert not duplicated, f"duplicate rows: {list(duplicated.items())[:3]}"
    assert not unacknowledged_rows, unacknowledged_rows[:3]
    assert len(landed) == len(acked)
    # Each landed purchase has exactly one normalised conversion row.
    assert conversions == WEBHOOKS and double_conversions == 0, figures
    # Each final 2xx is "accepted", or "duplicate" when an earlier attempt had landed but its answer
    # died with the process; never anything else (e.g. quarantined).
    assert set(stats.outcomes) <= {"accepted", "duplicate"}, stats.outcomes
    assert stats.outcomes["accepted"] + stats.outcomes["duplicate"] == WEBHOOKS, stats.outcomes
