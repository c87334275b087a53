"""Events/s into the local Graph API fake with added latency: batched (<=1000/request) vs one event
per request, through the dispatcher's own send path (trackai.dispatch Sender + Deliverer.send_batch:
pooled httpx client, bounded concurrency, classification). Both modes run in one invocation against
the same fake (a separate ``trackai capi-mock`` process on 127.0.0.1) and the ratio is reported.

    .venv/bin/python bench/bench_dispatch.py            # full: 100 ms latency, 200k vs 400 events
    .venv/bin/python bench/bench_dispatch.py --smoke    # CI: a few seconds

Output (bench/_report.py, name ``p3_dispatch``): a table of both modes, the targets (>= 20,000 events/s
batched; batched / one-per-request >= 200x), docs/benchmarks/p3_dispatch.json and .png (smoke runs write
under .trackai/bench-smoke/). Timings are reported, never asserted; the exit status is non-zero only when
an event failed or the fake saw a duplicate event_id.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import Target, publish

from trackai.core import pii
from trackai.core.capi.payload import build_purchase_event
from trackai.core.event_id import event_id
from trackai.dispatch.breaker import Breaker
from trackai.dispatch.delivery import Clock, Deliverer, Destination
from trackai.dispatch.policy import DispatchOptions
from trackai.dispatch.sender import Sender
from trackai.dispatch.store import QueuedEvent
from trackai.net import free_port

TENANT = "6f1c8a8e-0000-4000-8000-00000000beef"
PIXEL = "987654321"


def make_events(n: int, offset: int = 0) -> list[QueuedEvent]:
    approved = datetime.now(UTC) - timedelta(hours=1)
    deadline = (approved + timedelta(days=7)).timestamp()
    email = pii.hash_email("buyer@example.com")
    out = []
    for i in range(offset, offset + n):
        order = f"bench-{i}"
        purchase = {
            "tenant_id": TENANT,
            "order_id": order,
            "event_id": event_id(TENANT, order),
            "approved_at": approved,
            "amount": 97,
            "currency": "BRL",
            "product_id": "p1",
            "session_id": f"s{i}",
            "email_hash": email,
            "phone_hash": None,
        }
        match = {
            "fbc": f"fb.1.1767220000000.IwAR{i}",
            "fbp": f"fb.1.1767219000000.{i}",
            "client_ip": "2804:14c::1",
            "user_agent": "Mozilla/5.0 bench",
            "landing_url": "https://shop.example/lp",
            "external_id": None,
        }
        payload = build_purchase_event(purchase, match)
        out.append(QueuedEvent(payload["event_id"], TENANT, "hotmart", PIXEL, payload, 0, deadline))
    return out


def run_mode(url: str, events: list[QueuedEvent], batch_size: int, concurrency: int) -> dict:
    options = DispatchOptions(batch_size=batch_size, concurrency=concurrency)
    sender = Sender(url, "v25.0", timeout_seconds=5.0, max_connections=concurrency)
    deliverer = Deliverer(sender, options, Clock(None, time.sleep))
    to = Destination(TENANT, PIXEL, "bench-token")
    breaker = Breaker(TENANT, PIXEL, threshold=10**9)
    batches = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(lambda b: deliverer.send_batch(to, b, breaker), batches))
    elapsed = time.perf_counter() - started
    sender.close()
    sent = sum(len(o.sent) for o in outcomes)
    failed = len(events) - sent
    return {
        "batch_size": batch_size,
        "concurrency": concurrency,
        "events": len(events),
        "sent": sent,
        "failed": failed,
        "requests": sum(len(o.attempts) for o in outcomes),
        "seconds": round(elapsed, 3),
        "events_per_s": round(sent / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small run for CI")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batched-events", type=int, default=200_000)
    parser.add_argument("--single-events", type=int, default=400)
    args = parser.parse_args(argv)
    if args.smoke:
        args.batched_events, args.single_events = 20_000, 80
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mock = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackai_cli.cli",
            "capi-mock",
            "--port",
            str(port),
            "--latency-ms",
            str(args.latency_ms),
            "--no-keep-events",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/_mock/stats", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        events = make_events(args.batched_events + args.single_events)
        batched = run_mode(url, events[: args.batched_events], 1000, args.concurrency)
        single = run_mode(url, events[args.batched_events :], 1, args.concurrency)
        stats = httpx.get(f"{url}/_mock/stats").json()
    finally:
        mock.terminate()
        mock.wait(timeout=10)
    ratio = batched["events_per_s"] / single["events_per_s"] if single["events_per_s"] else float("inf")
    rows = [
        [
            label,
            m["batch_size"],
            m["concurrency"],
            m["events"],
            m["requests"],
            m["failed"],
            m["seconds"],
            m["events_per_s"],
        ]
        for label, m in (("batched", batched), ("one per request (baseline)", single))
    ]
    rows.append(["ratio batched / baseline", "", "", "", "", "", "", round(ratio, 1)])

    def plot(ax) -> None:
        labels = ["batched (1000/request)", "one per request"]
        values = [batched["events_per_s"], single["events_per_s"]]
        bars = ax.bar(labels, values, color=["#3b7dd8", "#999999"])
        ax.set_yscale("log")
        ax.set_ylabel("events/s (log scale)")
        ax.axhline(20_000, color="#d62728", linestyle="--", linewidth=1, label="target 20,000 events/s")
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
        ax.legend(loc="upper right", fontsize=8)

    publish(
        "p3_dispatch",
        title=f"P3 dispatch: events/s into the Graph API fake, {args.latency_ms:g} ms added latency",
        columns=["mode", "batch", "concurrency", "events", "requests", "failed", "seconds", "events/s"],
        rows=rows,
        targets=[
            Target("batched throughput", batched["events_per_s"], 20_000, "events/s", higher_is_better=True),
            Target("batched / one-per-request", ratio, 200, "x", higher_is_better=True),
        ],
        smoke=args.smoke,
        plot=plot,
        details={
            "latency_ms": args.latency_ms,
            "batched": batched,
            "one_per_request": single,
            "ratio": round(ratio, 1),
            "fake_stats": stats,
        },
    )
    ok = batched["failed"] == 0 and single["failed"] == 0 and stats["duplicate_event_ids"] == 0
    if not ok:
        print(f"functional failure: failed events or duplicates in the fake: {stats}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
