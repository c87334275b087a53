"""``trackai demo``: the main job end to end on whatever database is configured (embedded default).

Steps: migrate → demo tenants → start the ingest service and the Graph API fake (subprocesses on
free loopback ports) → send clicks and signed gateway webhooks over HTTP (trackai_cli.demo_traffic)
→ run the micro-batch through the same Dagster job the sensor launches (match, dedupe, dispatch, then the
dbt marts, recorded in the Dagster instance) → alarms → per-tenant summary. Everything it started is
stopped, including the embedded Postgres when the demo was the one that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from trackai import db, embedded_pg, migrations, tenants
from trackai.net import free_port
from trackai.settings import get_settings, reset_settings_cache
from trackai_cli.demo_traffic import PlannedPurchase, TrafficPlan, Visitor, plan_traffic

DEMO_TENANTS = (
    # fixed ids so a rerun reuses them; secrets are demo values, never production ones
    {
        "tenant_id": "0d3a1c4e-0000-4000-8000-00000000a001",
        "name": "Demo Cursos Ltda",
        "pixel_id": "100000000000001",
        "meta_token": "demo-meta-token-cursos",
        "gateway_secrets": {
            "perfectpay": "7378fa24f96b38a3b1805d7a6887bc82",
            "hotmart": "demo-hottok-cursos",
            "kiwify": "demo-kiwify-token-cursos",
            "stripe": "whsec_demo_cursos",
        },
    },
    {
        "tenant_id": "0d3a1c4e-0000-4000-8000-00000000b002",
        "name": "Demo Loja Digital",
        "pixel_id": "100000000000002",
        "meta_token": "demo-meta-token-loja",
        "gateway_secrets": {
            "perfectpay": "0c1d2e3f405162738495a6b7c8d9e0f1",
            "hotmart": "demo-hottok-loja",
            "kiwify": "demo-kiwify-token-loja",
            "stripe": "whsec_demo_loja",
        },
    },
)
FULL = {"visitors": 1500, "purchases": 220}
QUICK = {"visitors": 120, "purchases": 30, "bad_signatures": 1}


class Progress:
    """One line per step with elapsed time; the long loops redraw a counter in place on a TTY."""

    def __init__(self, total_steps: int) -> None:
        self.total = total_steps
        self.step = 0
        self.started = time.perf_counter()
        self.tty = sys.stdout.isatty()

    def begin(self, label: str) -> None:
        self.step += 1
        self.label = label
        print(f"[{self.step}/{self.total}] {label} …", flush=True)

    def tick(self, done: int, total: int) -> None:
        if self.tty:
            width = 30
            filled = int(width * done / max(total, 1))
            print(f"\r      [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", flush=True)
            if done == total:
                print()

    def done(self, detail: str) -> None:
        print(f"      {detail} ({time.perf_counter() - self.started:.1f}s elapsed)", flush=True)


@contextlib.contextmanager
def service(
    name: str, args: list[str], env: dict[str, str], health_url: str, log_dir: Path
) -> Iterator[None]:
    """Start a ``trackai`` subcommand, wait until ``health_url`` answers, stop it afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "trackai_cli.cli", *args], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited early; see {log_dir / (name + '.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=1).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy; see {log_dir / (name + '.log')}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def ensure_demo_tenants(url: str) -> list[str]:
    with db.connect(url) as conn:
        existing = {t.tenant_id for t in tenants.list_tenants(conn)}
        for spec in DEMO_TENANTS:
            if spec["tenant_id"] not in existing:
                tenants.create_tenant(conn, **spec)
            else:  # a rerun restores the demo secrets in case someone rotated them
                for kind, secret in {"meta_token": spec["meta_token"], **spec["gateway_secrets"]}.items():
                    tenants.set_secret(conn, spec["tenant_id"], kind, secret)
    return [spec["tenant_id"] for spec in DEMO_TENANTS]


@dataclass
class SendStats:
    clicks: int = 0
    webhooks: Counter = None  # status -> count

    def __post_init__(self) -> None:
        self.webhooks = Counter()


def _post_click(client: httpx.Client, tenant_id: str, visitor: Visitor, event_type: str = "click") -> int:
    body = {
        "tenant_id": tenant_id,
        "session_id": visitor.session_id,
        "event_type": event_type,
        "landing_url": visitor.landing_url,
        "referrer": "https://l.facebook.com/" if visitor.fbclid else None,
        "fbp": visitor.fbp,
    }
    if event_type == "lead":
        body["email"] = visitor.lead_email
    headers = {"User-Agent": visitor.user_agent, "X-Forwarded-For": visitor.ip}
    return client.post("/api/v1/track/click", json=body, headers=headers).status_code


def _post_webhook(
    client: httpx.Client, tenant_id: str, secret: str, purchase: PlannedPurchase, status: str, *, uid: str
) -> int:
    from trackai_cli.gateway_samples import build_payload
    from trackai_cli.gateway_signing import sign_request

    payload = build_payload(
        purchase.gateway,
        order_id=purchase.order_id,
        status=status,
        email=purchase.email,
        phone=purchase.phone,
        session_id=purchase.session_id,
        amount=purchase.amount,
        currency=purchase.currency,
        event_time=purchase.event_time,
        product_id=purchase.product_id,
        fbc=purchase.fbc,
        client_ip=purchase.client_ip,
        event_uid=uid,
    )
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers, query, body = sign_request(purchase.gateway, secret, body)
    url = f"/api/v1/webhooks/{purchase.gateway}/{tenant_id}"
    return client.post(url, content=body, headers=headers, params=query).status_code


def send_traffic(base_url: str, spec: dict, plan: TrafficPlan, progress: Progress) -> SendStats:
    """Clicks first (with leads for the email-matched buyers), then purchases, retries, refunds, forgeries."""
    stats = SendStats()
    tenant_id = spec["tenant_id"]
    secrets_by_gateway = spec["gateway_secrets"]
    with httpx.Client(base_url=base_url, timeout=10) as client, ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [(v, "click") for v in plan.visitors] + [(v, "lead") for v in plan.visitors if v.lead_email]
        for done, code in enumerate(pool.map(lambda j: _post_click(client, tenant_id, *j), jobs), 1):
            stats.clicks += code == 202
            if done % 50 == 0 or done == len(jobs):
                progress.tick(done, len(jobs))

        def deliver(p: PlannedPurchase) -> list[int]:
            secret = secrets_by_gateway[p.gateway]
            codes = [_post_webhook(client, tenant_id, secret, p, "approved", uid=f"{p.order_id}-approved")]
            if p.resend:  # the gateway retries the very same delivery
                codes.append(
                    _post_webhook(client, tenant_id, secret, p, "approved", uid=f"{p.order_id}-approved")
                )
            if p.refunded:
                codes.append(
                    _post_webhook(client, tenant_id, secret, p, "refunded", uid=f"{p.order_id}-refunded")
                )
            return codes

        purchases = plan.purchases
        for done, codes in enumerate(pool.map(deliver, purchases), 1):
            stats.webhooks.update(codes)
            if done % 10 == 0 or done == len(purchases):
                progress.tick(done, len(purchases))
        for i in range(plan.bad_signatures):  # forged: signed with a secret that is not the tenant's
            forged = purchases[i % len(purchases)]
            stats.webhooks[
                _post_webhook(client, tenant_id, "wrong-secret", forged, "approved", uid=f"forged-{i}")
            ] += 1
    return stats


FIRST_SEED = 7


def next_demo_seed(data_dir: Path) -> int:
    """A new traffic seed per run (7, 8, 9, ... per data folder): a rerun sends new orders and sessions
    instead of replaying the last run's, which would all come back as duplicates."""
    counter = Path(data_dir) / "demo-seed"
    seed = int(counter.read_text()) + 1 if counter.exists() else FIRST_SEED
    counter.parent.mkdir(parents=True, exist_ok=True)
    counter.write_text(str(seed))
    return seed


def run_demo(quick: bool = False, seed: int | None = None) -> int:
    settings = get_settings()
    seed = next_demo_seed(settings.data_dir) if seed is None else seed
    sizes = QUICK if quick else FULL
    progress = Progress(total_steps=10)
    embedded_was_running = settings.uses_embedded_database and embedded_pg.is_running(settings.data_dir)

    progress.begin("database")
    url = db.database_url(settings, announce=True)
    applied = migrations.upgrade(url, settings.sql_dir)
    ids = ensure_demo_tenants(url)
    progress.done(f"{len(applied)} migrations applied; demo tenants {', '.join(ids)}")

    ingest_port, mock_port = free_port(), free_port()
    env = {
        **os.environ,
        "TRACKAI_DATABASE_URL": url,
        "TRACKAI_META_GRAPH_URL": f"http://127.0.0.1:{mock_port}",
        "TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN": "100000",  # the demo posts far more than a seller's minute
        "TRACKAI_CLICK_RATE_LIMIT_PER_MIN": "100000",
        "TRACKAI_LOG_LEVEL": "WARNING",
    }
    # the in-process micro-batch (dispatch) must see the fake's URL: re-read settings after this
    os.environ.update({k: env[k] for k in ("TRACKAI_DATABASE_URL", "TRACKAI_META_GRAPH_URL")})
    reset_settings_cache()
    logs = settings.data_dir / "demo-logs"
    try:
        progress.begin(f"starting the ingest service (:{ingest_port}) and the Graph API fake (:{mock_port})")
        with (
            service(
                "capi-mock",
                ["capi-mock", "--port", str(mock_port)],
                env,
                f"http://127.0.0.1:{mock_port}/_mock/stats",
                logs,
            ),
            service(
                "ingest",
                ["serve", "--host", "127.0.0.1", "--port", str(ingest_port)],
                env,
                f"http://127.0.0.1:{ingest_port}/health",
                logs,
            ),
        ):
            progress.done(f"logs in {logs}")
            return _run_with_services(
                url,
                sizes,
                seed,
                progress,
                f"http://127.0.0.1:{ingest_port}",
                f"http://127.0.0.1:{mock_port}",
            )
    finally:
        if settings.uses_embedded_database and not embedded_was_running:
            embedded_pg.stop(settings.data_dir)
            print(
                f"stopped the embedded Postgres the demo started (data kept in {settings.data_dir / 'pgdata'})"
            )


def _run_with_services(
    url: str, sizes: dict, seed: int, progress: Progress, ingest_url: str, mock_url: str
) -> int:
    from dagster_project.defs.quality import evaluate_all
    from dagster_project.lib import dbt_runner
    from dagster_project.runner import run_micro_batch

    if not dbt_runner.MANIFEST_PATH.exists():  # the job's dbt steps exist only with a manifest
        dbt_runner.prepare()

    progress.begin(
        f"sending traffic over HTTP ({sizes['visitors']} visitors, {sizes['purchases']} buyers per tenant, "
        f"seed {seed})"
    )
    sent: dict[str, SendStats] = {}
    plans: dict[str, TrafficPlan] = {}
    for spec in DEMO_TENANTS:
        plans[spec["tenant_id"]] = plan = plan_traffic(spec["tenant_id"], seed=seed, **sizes)
        sent[spec["tenant_id"]] = send_traffic(ingest_url, spec, plan, progress)
    codes = sum((s.webhooks for s in sent.values()), Counter())
    progress.done(
        f"{sum(s.clicks for s in sent.values())} clicks accepted; webhook answers {dict(sorted(codes.items()))}"
    )

    progress.begin(
        "micro-batch through the Dagster job the sensor launches (match → dedupe → dispatch → marts)"
    )
    with (
        open(Path(get_settings().data_dir) / "demo-logs" / "micro_batch.log", "w") as log,
        contextlib.redirect_stderr(log),
    ):
        batch = run_micro_batch()  # Dagster's step-by-step event log goes to the file
    summaries = [run.get("summary", {}) for run in batch.get("runs", [])]
    matched = Counter()
    for summary in summaries:
        matched.update(summary.get("matched", {}))
    marts = {model for run in batch.get("runs", []) for model in run.get("dbt_models", [])}
    progress.done(
        f"{sum(s.get('purchases_processed', 0) for s in summaries)} purchases processed, matched {dict(matched)}, "
        f"{sum(s.get('unmatched', 0) for s in summaries)} unmatched; {len(marts)} dbt models materialised "
        "(Dagster log: demo-logs/micro_batch.log)"
    )

    progress.begin("alarms (asset checks)")
    alarms = evaluate_all(url)
    failing = [a for a in alarms if not a.passed]
    progress.done(f"{len(alarms)} checks, {len(failing)} failing")

    progress.begin("setup assistant: token, webhooks, snippet and a test event per tenant (issue 16)")
    from trackai_cli.setup_fakes.demo import run_setup_demo

    setup_lines = run_setup_demo(url, list(DEMO_TENANTS))
    print("\n".join(f"      {line}" for line in setup_lines))
    progress.done("test-event gate recorded (docs/setup-assistant.md)")

    progress.begin("provisioning: tracking domain, Stape and GTM per tenant against the API fakes (issue 17)")
    from trackai_cli.provision_fakes.demo import run_provisioning_demo

    provision_lines = run_provisioning_demo(url, list(DEMO_TENANTS))
    print("\n".join(f"      {line}" for line in provision_lines))
    progress.done("publish gated on the test event and a review (docs/provisioning.md)")

    progress.begin("billing: a tenant on a small plan goes warn → block → upgrade → release (issue 18)")
    from trackai_cli.demo_billing import run_billing_demo

    with httpx.Client(base_url=ingest_url, timeout=10) as client:
        _, billing_lines = run_billing_demo(url, client, seed)
    print("\n".join(f"      {line}" for line in billing_lines))
    progress.done("billing story done (docs/billing.md)")

    progress.begin("LGPD: a demo buyer asks for their data, then for deletion (issue 23)")
    from trackai_cli.demo_privacy import run_privacy_demo

    first = DEMO_TENANTS[0]["tenant_id"]
    privacy_lines = run_privacy_demo(url, first, plans[first])
    print("\n".join(f"      {line}" for line in privacy_lines))
    progress.done("exported, then erased; tombstone kept (docs/privacy.md)")

    progress.begin("summary")
    accepted = httpx.get(f"{mock_url}/_mock/stats", timeout=5).json()
    print_summary(url, alarms, accepted)
    return 0


SUMMARY_SQL = """
SELECT t.name, t.tenant_id::text,
       count(p.*) FILTER (WHERE p.approved_at IS NOT NULL) AS purchases,
       count(m.*) FILTER (WHERE m.stage = 'deterministic') AS deterministic,
       count(m.*) FILTER (WHERE m.stage = 'semi_deterministic') AS semi_deterministic,
       count(m.*) FILTER (WHERE m.stage = 'probabilistic') AS probabilistic,
       (SELECT count(*) FROM ops.dispatch_queue q WHERE q.tenant_id = t.tenant_id AND q.status = 'sent') AS dispatched,
       (SELECT count(*) FROM ops.dlq d WHERE d.tenant_id = t.tenant_id AND d.replayed_at IS NULL) AS dlq,
       (SELECT count(*) FROM core.purchases r WHERE r.tenant_id = t.tenant_id AND r.status IN ('refunded', 'chargeback')) AS refunded
  FROM core.tenants t
  LEFT JOIN core.purchases p ON p.tenant_id = t.tenant_id
  LEFT JOIN core.matches m
    ON m.tenant_id = p.tenant_id AND m.gateway = p.gateway AND m.order_id = p.order_id
 GROUP BY t.tenant_id, t.name ORDER BY t.name
"""


def print_summary(url: str, alarms: list, accepted: dict) -> None:
    from trackai.core.emq import EMQ_WEIGHTS, estimated_emq

    with db.connect(url) as conn:
        rows = conn.execute(SUMMARY_SQL).fetchall()
        emq = {}
        keys: dict[str, Counter] = {}  # tenant -> how many sent events carried each user_data key
        for tenant_id, payload in conn.execute(
            "SELECT tenant_id::text, payload FROM ops.dispatch_queue WHERE status = 'sent'"
        ).fetchall():
            user_data = payload.get("user_data") or {}
            emq.setdefault(tenant_id, []).append(estimated_emq(user_data))
            keys.setdefault(tenant_id, Counter()).update(
                k for k in EMQ_WEIGHTS if user_data.get(k) not in (None, "", [])
            )
    header = f"{'tenant':22} {'purchases':>9} {'determ.':>13} {'semi':>6} {'prob.':>5} {'rate':>6} {'sent':>5} {'DLQ':>4} {'EMQ*':>5}"
    print("Totals in this database (every demo run so far):")
    print(header)
    print("-" * len(header))
    for name, tenant_id, purchases, det, semi, prob, dispatched, dlq, _refunded in rows:
        matched = det + semi + prob
        rate = 100.0 * matched / purchases if purchases else 0.0
        scores = emq.get(tenant_id, [])
        emq_text = f"{sum(scores) / len(scores):.1f}" if scores else "-"
        print(
            f"{name[:22]:22} {purchases:>9} {det:>13} {semi:>6} {prob:>5} {rate:>5.1f}% {dispatched:>5} {dlq:>4} {emq_text:>5}"
        )
    print(
        "* EMQ is our estimate from the user_data keys sent, weighted by Meta's priority list; Meta's own score may differ."
    )
    print("Key coverage (share of the events sent that carried each key):")
    for name, tenant_id, *_ in rows:
        sent = len(emq.get(tenant_id, []))
        if sent:
            shares = " ".join(f"{k} {100 * n / sent:.0f}%" for k, n in keys[tenant_id].most_common())
            print(f"  {name[:22]:22} {shares}")
    print(f"Graph API fake accepted: {json.dumps(accepted)}")
    print("Alarms:")
    for alarm in alarms:
        state = "ok  " if alarm.passed else alarm.severity
        print(f"  [{state}] {alarm.name}: {alarm.value} (threshold {alarm.threshold})")
    print_console_logins(url)
    lifecycle = get_settings().lifecycle
    print(
        f"Backups: {'to s3://' + lifecycle.s3_bucket if lifecycle.s3_bucket else 'off'} "
        "(TRACKAI_LIFECYCLE_S3_BUCKET; `trackai backup status`, docs/backups.md)"
    )
    print(
        "\nNext: `make dev` opens the Dagster UI (http://127.0.0.1:3000, lineage: landing → matches → dedupe →"
        " dispatch → marts) and the seller console; `make docs` then `make docs-serve` for the dbt docs."
    )


def print_console_logins(url: str) -> None:
    """The seller console's address and one demo login per demo tenant plus the operator (made idempotently)."""
    from trackai.console_data.users import ensure_demo_users

    with db.connect(url) as conn:
        logins = ensure_demo_users(conn, [spec["tenant_id"] for spec in DEMO_TENANTS])
    print(f"Seller console ({get_settings().console.public_url}, started by `make dev`); demo logins:")
    for login in logins:
        print(f"  {login.tenant_name[:22]:22} {login.email} / {login.password}")
