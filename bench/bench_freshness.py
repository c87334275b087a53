"""P4 freshness: webhook posted -> event accepted by the Graph API fake, through the real pipeline.

    .venv/bin/python bench/bench_freshness.py            # full: daemon, real sensor interval, 16 events, ~5-6 min
    .venv/bin/python bench/bench_freshness.py --smoke    # CI: one event, in-process run, no timed assertion

Real processes, throwaway everything: an application database (migrated, one tenant), a Dagster storage
database, a DAGSTER_HOME with a copy of dagster_home/dagster.yaml, the ingest service (``trackai serve``),
the Graph API fake (``MockServer``, in a thread of this process) and ``dagster-daemon run -w workspace.yaml``
with the real ``micro_batch_sensor`` interval and settle time (nothing shortened). Every ``--every``
seconds (with jitter, so posts fall anywhere in the sensor's cycle) a click and then a signed Stripe
purchase for the same session are POSTed over HTTP; the fake's ``/_mock/accepted`` is polled every
``--poll`` s for the event_id (``trackai.core.event_id``) -> latency = first poll that shows it - the
moment the webhook was sent.

Baselines in the same run: the sensor interval itself (a row waits on average interval/2 for the next
tick; ratio p95/interval reported) and one event through the same job run directly in this process
(``run_micro_batch``, definitions already loaded), timed before the daemon starts. The Dagster run
records give the split: sensor-request -> run start (queue + launch) and run start -> end.

``--smoke``: one event, daemon not started (its wiring is the one tests/dagster/test_pipeline_daemon.py
covers): ingest -> in-process run_micro_batch -> fake; exits 1 if the event never arrives.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets as pysecrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from _report import Target, publish  # noqa: E402

from trackai import db, migrations  # noqa: E402
from trackai.core.event_id import event_id  # noqa: E402
from trackai.net import free_port  # noqa: E402
from trackai_cli.capi_mock.server import MockServer  # noqa: E402

GATEWAY = "stripe"


def progress(message: str) -> None:
    print(f"[bench_freshness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def quantile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p * (len(ordered) - 1))))
    return round(ordered[index], 2)


class Pipeline:
    """Databases, tenant, fake, ingest service and (optionally) the daemon; ``close()`` undoes all."""

    def __init__(self, keep: bool) -> None:
        from cryptography.fernet import Fernet

        from dagster_project.runner import dagster_storage_url
        from trackai.settings import reset_settings_cache

        self.keep = keep
        self.server = db.server_url()
        suffix = pysecrets.token_hex(3)
        self.data_name = f"trackai_bench_freshness_{suffix}"
        self.dagster_name = f"trackai_bench_freshness_dagster_{suffix}"
        self.home = Path(tempfile.mkdtemp(prefix="trackai-bench-freshness-"))
        shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        self.daemon: subprocess.Popen | None = None
        self.ingest: subprocess.Popen | None = None
        self.fake: MockServer | None = None
        self._logs: list = []
        db.ensure_database(self.server, self.data_name)
        db.ensure_database(self.server, self.dagster_name)
        self.url = db.with_database(self.server, self.data_name)
        migrations.upgrade(self.url, REPO_ROOT / "sql")
        self.fake = MockServer().start()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "TRACKAI_DATABASE_URL": self.url,
            "TRACKAI_DAGSTER_DATABASE_URL": dagster_storage_url(
                db.with_database(self.server, self.dagster_name)
            ),
            "TRACKAI_META_GRAPH_URL": self.fake.url,
            "TRACKAI_SECRET_KEY": os.environ.get("TRACKAI_SECRET_KEY") or Fernet.generate_key().decode(),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("TRACKAI_INGEST_DATABASE_URL", None)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("TRACKAI_", "DAGSTER_"))})
        reset_settings_cache()
        self.tenant, self.secret = self._tenant(suffix)

    def _tenant(self, suffix: str) -> tuple[str, str]:
        import psycopg

        from trackai import tenants

        secret = f"whsec_{suffix}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            tenant = tenants.create_tenant(
                conn,
                name=f"bench freshness {suffix}",
                pixel_id="1234567890",
                meta_token=f"bench-token-{suffix}",
                gateway_secrets={GATEWAY: secret},
            )
        return tenant, secret

    def _log(self, name: str):
        handle = (self.home / f"{name}.log").open("w")
        self._logs.append(handle)
        return handle

    def start_ingest(self) -> str:
        port = free_port()
        self.ingest = subprocess.Popen(
            [sys.executable, "-m", "trackai_cli.cli", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log("ingest"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.ingest.poll() is not None:
                raise RuntimeError("ingest service exited: " + (self.home / "ingest.log").read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    return base
            time.sleep(0.2)
        raise RuntimeError("ingest service not ready")

    def start_daemon(self) -> None:
        self.daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self._log("daemon"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def daemon_log(self) -> str:
        path = self.home / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for proc in (self.daemon, self.ingest):
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):  # the daemon's code server / run workers
                os.killpg(proc.pid, signal.SIGKILL)
        if self.fake is not None:
            self.fake.stop()
        for handle in self._logs:
            handle.close()
        if not self.keep:
            for name in (self.data_name, self.dagster_name):
                db.drop_database(self.server, name)
            shutil.rmtree(self.home, ignore_errors=True)


def post_pair(client: httpx.Client, pipeline: Pipeline, n: int, tag: str) -> tuple[str, float]:
    """A click, then the purchase of the same session; returns (event_id, time the webhook was sent)."""
    from trackai.core.session_id import new_session_id
    from trackai_cli.gateway_samples import build_payload
    from trackai_cli.gateway_signing import sign_request

    session = new_session_id()  # the ingest service accepts only the snippet's id shape
    order = f"fresh-{tag}-{n:04d}"
    fbclid = f"IwAR{tag}{n:04d}"
    click = client.post(
        "/api/v1/track/click",
        json={
            "tenant_id": pipeline.tenant,
            "session_id": session,
            "event_type": "click",
            "landing_url": f"https://shop.example/lp?utm_source=facebook&fbclid={fbclid}",
            "fbp": f"fb.1.1767219000000.{n}",
        },
        headers={"User-Agent": "Mozilla/5.0 bench-freshness"},
    )
    if click.status_code != 202:
        raise RuntimeError(f"click refused: {click.status_code} {click.text[:300]}")
    payload = build_payload(
        GATEWAY,
        order_id=order,
        email=f"buyer{n}@example.com",
        phone=f"119{n:08d}",
        session_id=session,
        amount=Decimal("97.00"),
    )
    headers, query, body = sign_request(
        GATEWAY, pipeline.secret, json.dumps(payload, separators=(",", ":")).encode()
    )
    sent = time.time()
    response = client.post(
        f"/api/v1/webhooks/{GATEWAY}/{pipeline.tenant}", content=body, headers=headers, params=query
    )
    if response.status_code != 200 or response.json().get("status") != "accepted":
        raise RuntimeError(f"webhook refused: {response.status_code} {response.text[:300]}")
    return event_id(pipeline.tenant, order), sent


def accepted_ids(fake_url: str) -> set[str]:
    events = httpx.get(fake_url + "/_mock/accepted", timeout=10).json()["events"]
    return {e.get("event_id") for e in events}


def in_process_baseline(pipeline: Pipeline, client: httpx.Client) -> dict:
    """One event through micro_batch_job in this process (definitions loaded first, timed apart)."""
    import dagster as dg

    from dagster_project.runner import load_definitions, run_micro_batch

    t0 = time.perf_counter()
    definitions = load_definitions()
    load_s = time.perf_counter() - t0
    instance = dg.DagsterInstance.get()
    eid, sent = post_pair(client, pipeline, 0, "base")
    seen_at: list[float] = []
    stop = threading.Event()

    def watch() -> None:  # the run goes on (asset checks) after the event is accepted
        while not stop.is_set() and not seen_at:
            if eid in accepted_ids(pipeline.fake.url):
                seen_at.append(time.time())
            stop.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    try:
        summary = run_micro_batch(instance=instance, url=pipeline.url, definitions=definitions)
    finally:
        run_s = time.perf_counter() - t0
        if eid in accepted_ids(pipeline.fake.url) and not seen_at:
            seen_at.append(time.time())
        stop.set()
        watcher.join(timeout=5)
    if not seen_at:
        raise RuntimeError(
            f"in-process run did not deliver the event: {json.dumps(summary, default=str)[:2000]}"
        )
    return {
        "definitions_load_s": round(load_s, 3),
        "run_s": round(run_s, 3),
        "webhook_to_accepted_s": round(seen_at[0] - sent, 3),
        "summary": {k: summary.get(k) for k in ("purchases_processed", "matched", "dedupe_inserted")},
    }


def wait_first_tick(pipeline: Pipeline, timeout: float) -> float:
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if pipeline.daemon.poll() is not None:
            raise RuntimeError("dagster-daemon exited: " + pipeline.daemon_log()[-3000:])
        if "micro_batch_sensor" in pipeline.daemon_log():
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"no micro_batch_sensor tick after {timeout}s: " + pipeline.daemon_log()[-3000:])


def run_records() -> list[dict]:
    """Every run of the instance (the micro-batch shares the 4 run slots and the CPU with the others)."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    out = []
    for record in instance.get_run_records():
        run = record.dagster_run
        out.append(
            {
                "run_id": run.run_id,
                "job": run.job_name,
                "status": run.status.value,
                "sensor": run.tags.get("dagster/sensor_name"),
                "schedule": run.tags.get("dagster/schedule_name"),
                "watermark_to": run.tags.get("trackai/watermark_to"),
                "created": record.create_timestamp.timestamp(),
                "start": record.start_time,
                "end": record.end_time,
            }
        )
    return sorted(out, key=lambda r: r["created"])


def runs_by_job(runs: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for run in runs:
        entry = out.setdefault(run["job"], {"runs": 0, "durations": [], "queued": []})
        entry["runs"] += 1
        if run["start"] and run["end"]:
            entry["durations"].append(run["end"] - run["start"])
        if run["start"]:
            entry["queued"].append(run["start"] - run["created"])
    return {
        job: {
            "runs": e["runs"],
            "median_duration_s": quantile(e["durations"], 0.5),
            "median_queue_launch_s": quantile(e["queued"], 0.5),
        }
        for job, e in out.items()
    }


def measure(args, pipeline: Pipeline, client: httpx.Client) -> dict:
    from dagster_project.defs.pipeline.sensors import micro_batch_sensor
    from trackai.settings import get_settings

    interval = micro_batch_sensor.minimum_interval_seconds
    settle = get_settings().pipeline.settle_seconds
    progress("starting dagster-daemon (real sensor interval)")
    t0 = time.monotonic()
    pipeline.start_daemon()
    first_tick = wait_first_tick(pipeline, timeout=240)
    progress(
        f"first micro_batch_sensor tick {first_tick:.1f} s after daemon start; posting {args.samples} events"
    )
    rng = random.Random(args.seed)
    sent: dict[str, float] = {}
    accepted: dict[str, float] = {}
    next_post = time.time()
    posted = 0
    last_report = 0.0
    deadline = None
    while True:
        now = time.time()
        if posted < args.samples and now >= next_post:
            eid, at = post_pair(client, pipeline, posted + 1, "run")
            sent[eid] = at
            posted += 1
            next_post = at + args.every * rng.uniform(0.6, 1.4)
            if posted == args.samples:
                deadline = time.time() + args.wait
        for eid in accepted_ids(pipeline.fake.url) & sent.keys():
            accepted.setdefault(eid, time.time())
        if pipeline.daemon.poll() is not None:
            raise RuntimeError("dagster-daemon exited: " + pipeline.daemon_log()[-3000:])
        if now - last_report >= 30:
            last_report = now
            progress(f"posted {posted}/{args.samples}, accepted {len(accepted)}")
        if posted == args.samples and (len(accepted) == len(sent) or time.time() > deadline):
            break
        time.sleep(args.poll)
    latencies = {eid: accepted[eid] - sent[eid] for eid in accepted}
    runs = run_records()
    sensor_runs = [r for r in runs if r["sensor"] == "micro_batch_sensor" and r["start"] and r["end"]]
    return {
        "sensor_interval_s": interval,
        "settle_s": settle,
        "daemon_first_tick_s": round(first_tick, 1),
        "daemon_total_s": round(time.monotonic() - t0, 1),
        "posted": len(sent),
        "accepted": len(accepted),
        "missing": sorted(set(sent) - set(accepted)),
        "latencies_s": [round(latencies[e], 2) for e in sorted(latencies, key=lambda e: sent[e])],
        "runs": runs,
        "run_queue_launch_s": quantile([r["start"] - r["created"] for r in sensor_runs], 0.5),
        "run_duration_s": quantile([r["end"] - r["start"] for r in sensor_runs], 0.5),
        "sensor_runs": len(sensor_runs),
        "by_job": runs_by_job(runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="one event, in-process run, no daemon (CI)")
    parser.add_argument("--samples", type=int, default=16, help="click + purchase pairs posted")
    parser.add_argument(
        "--every", type=float, default=11.0, help="mean seconds between posts (+-40 %% jitter)"
    )
    parser.add_argument("--wait", type=float, default=150.0, help="max seconds to wait after the last post")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls of the fake")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep databases and DAGSTER_HOME (logs)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    pipeline = Pipeline(args.keep)
    try:
        base = pipeline.start_ingest()
        with httpx.Client(base_url=base, timeout=10) as client:
            progress("baseline: one event through micro_batch_job in this process")
            baseline = in_process_baseline(pipeline, client)
            progress(
                f"in process: definitions {baseline['definitions_load_s']:.1f} s, run {baseline['run_s']:.1f} s, "
                f"webhook -> accepted {baseline['webhook_to_accepted_s']:.1f} s"
            )
            result = None if args.smoke else measure(args, pipeline, client)
    finally:
        pipeline.close()
    runtime = time.perf_counter() - started
    return report(args, baseline, result, runtime)


def report(args, baseline: dict, result: dict | None, runtime: float) -> int:
    columns = ["measure", "p50 s", "p95 s", "max s", "samples", "baseline", "baseline s", "p95 / baseline"]
    rows = [
        [
            "in process: webhook -> accepted (run_micro_batch)",
            baseline["webhook_to_accepted_s"],
            "",
            "",
            1,
            "whole run",
            baseline["run_s"],
            "",
        ]
    ]
    targets = []
    details = {"baseline": baseline, "runtime_s": round(runtime, 1)}
    ok = True
    if result is not None:
        lat = result["latencies_s"]
        p50, p95, worst = quantile(lat, 0.5), quantile(lat, 0.95), max(lat) if lat else None
        interval = result["sensor_interval_s"]
        rows.insert(
            0,
            [
                "daemon: webhook -> accepted by the fake",
                p50,
                p95,
                worst,
                f"{result['accepted']}/{result['posted']}",
                "sensor interval",
                interval,
                round(p95 / interval, 2) if p95 is not None else "",
            ],
        )
        rows.append(
            [
                "  sensor request -> run start (queue + launch)",
                result["run_queue_launch_s"],
                "",
                "",
                result["sensor_runs"],
                "",
                "",
                "",
            ]
        )
        rows.append(
            [
                "  run start -> end (run worker)",
                result["run_duration_s"],
                "",
                "",
                result["sensor_runs"],
                "",
                "",
                "",
            ]
        )
        targets.append(Target("webhook -> accepted p95", p95 if p95 is not None else float("inf"), 90, "s"))
        details.update(
            {"daemon": result, "samples": args.samples, "every_s": args.every, "poll_s": args.poll}
        )
        ok = result["accepted"] == result["posted"]

    def plot(ax) -> None:
        lat = result["latencies_s"]
        ax.plot(range(1, len(lat) + 1), lat, "o", color="#2f6fb0", label="webhook -> accepted (daemon)")
        ax.axhline(
            result["sensor_interval_s"], color="#9aa5b1", ls="--", lw=1, label="sensor interval (baseline)"
        )
        ax.axhline(90, color="#d9822b", ls=":", lw=1, label="target p95 <= 90 s")
        ax.axhline(quantile(lat, 0.95), color="#2f6fb0", ls=":", lw=1, label="measured p95")
        ax.set_xlabel("event (in posting order)")
        ax.set_ylabel("seconds")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="lower right")

    publish(
        "p4_freshness",
        title="P4 freshness: webhook -> accepted by the Graph API fake",
        columns=columns,
        rows=rows,
        targets=targets,
        smoke=args.smoke,
        plot=plot if result and result["latencies_s"] else None,
        details=details,
    )
    if result is not None:
        for job, entry in result["by_job"].items():
            print(
                f"  runs of {job}: {entry['runs']}, median queue+launch {entry['median_queue_launch_s']} s, "
                f"median duration {entry['median_duration_s']} s"
            )
    print(f"  runtime {runtime:.0f} s")
    if result is not None and result["missing"]:
        print(f"  {len(result['missing'])} event(s) never accepted")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
