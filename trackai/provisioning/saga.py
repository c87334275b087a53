"""The provisioning saga (docs/provisioning.md): five steps, each idempotent, persisted in Postgres.

    cloudflare_dns → stape_container → gtm_container → gtm_workspace → gtm_publish

* One row per run (``provisioning.runs``) and per step (``provisioning.steps``: state, external ids,
  attempts, last error); ``provisioning.tenant_tracking`` holds what exists for the tenant now.
* Every step looks up its resource **by name** before creating it, and records the external id right
  after the create, so re-running after a crash at any point never creates a second record or container.
* A step that fails for good (Stape not active by the deadline, a 4xx, retries exhausted) compensates the
  run: whatever the steps created is deleted in reverse order (GTM container, Stape container, CNAME).
* ``gtm_publish`` is **blocked**, not failed, until the tenant passed the setup gate ``test_capi_event``
  (contract C1, ``trackai.setup.gates.latest_pass``) and a person approved exactly the workspace diff
  (``provisioning.approvals``); the run then waits, and a later run resumes it.

The Dagster job (``dagster_project/defs/provisioning``) runs each step as an op; ``trackai provision``
runs the same functions in process (:func:`run_saga`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from trackai.core import provisioning_plan as plan
from trackai.core.thankyou_snippet import EVENT_ID_JS
from trackai.provisioning import credentials
from trackai.provisioning.cloudflare_dns import CloudflareDns
from trackai.provisioning.errors import ApiError, ConfigurationMissing, ProvisionError, PublishBlocked
from trackai.provisioning.gtm import GtmClient
from trackai.provisioning.stape import StapeClient
from trackai.settings import Settings, get_settings

log = logging.getLogger("trackai.provisioning")
Hook = Callable[[str, str], None]


class RunFinished(ProvisionError):
    """The run is over (succeeded or rolled back): start a new one instead."""


@dataclass
class Clients:
    dns: CloudflareDns
    stape: StapeClient
    gtm: GtmClient

    def close(self) -> None:
        for client in (self.dns, self.stape, self.gtm):
            client.close()


def build_clients(
    settings: Settings | None = None, *, sleep: Callable[[float], None] = time.sleep
) -> Clients:
    settings = settings or get_settings()
    p = settings.provision
    key_json = credentials.resolve(p.gtm_service_account, "TRACKAI_PROVISION_GTM_SERVICE_ACCOUNT", settings)
    try:
        key = json.loads(key_json)
    except ValueError as exc:
        raise ConfigurationMissing(
            "TRACKAI_PROVISION_GTM_SERVICE_ACCOUNT is not a service-account key JSON"
        ) from exc
    common = {"timeout": p.http_timeout_seconds, "max_retries": p.max_retries}
    return Clients(
        dns=CloudflareDns(
            credentials.resolve(p.cf_api_token, "CF_API_TOKEN", settings), p.cf_api_url, **common
        ),
        stape=StapeClient(
            credentials.resolve(p.stape_api_key, "STAPE_API_KEY", settings),
            p.stape_api_url,
            max_wait=p.retry_max_wait_seconds,
            sleep=sleep,
            **common,
        ),
        gtm=GtmClient(
            key,
            p.gtm_api_url,
            token_url=p.gtm_token_url,
            max_wait=p.retry_max_wait_seconds,
            sleep=sleep,
            **common,
        ),
    )


def load_template() -> dict[str, Any]:
    text = resources.files("trackai.provisioning").joinpath("gtm_web_template.json").read_text("utf-8")
    template = json.loads(text)
    template.pop("_comment", None)
    return template


# --- database helpers ----------------------------------------------------------------------------------


def _one(conn: psycopg.Connection, sql: str, params: tuple = ()) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchone()


def _all(conn: psycopg.Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def tracking(conn: psycopg.Connection, tenant_id: str) -> dict[str, Any] | None:
    return _one(conn, "SELECT * FROM provisioning.tenant_tracking WHERE tenant_id = %s", (tenant_id,))


def _set_tracking(conn: psycopg.Connection, tenant_id: str, **values: Any) -> None:
    columns = ", ".join(f"{name} = %s" for name in values)
    conn.execute(
        f"UPDATE provisioning.tenant_tracking SET {columns}, updated_at = now() WHERE tenant_id = %s",
        (*values.values(), tenant_id),
    )


def ensure_tracking(
    conn: psycopg.Connection, tenant_id: str, settings: Settings, slug: str | None = None
) -> dict[str, Any]:
    """The tenant's tracking row (slug and host fixed at the first run)."""
    row = tracking(conn, tenant_id)
    if row is not None:
        if slug and slug != row["slug"]:
            raise ProvisionError(f"tenant already provisioned as {row['slug']!r}; the slug cannot change")
        return row
    tenant = _one(conn, "SELECT name FROM core.tenants WHERE tenant_id = %s", (tenant_id,))
    if tenant is None:
        raise ProvisionError(f"no tenant {tenant_id}")
    slug = plan.check_slug(slug) if slug else plan.slugify(tenant["name"], tenant_id)
    host = plan.hostname(slug, settings.provision.cf_base_domain)
    conn.execute(
        """INSERT INTO provisioning.tenant_tracking (tenant_id, slug, hostname) VALUES (%s, %s, %s)
           ON CONFLICT (tenant_id) DO NOTHING""",
        (tenant_id, slug, host),
    )
    return tracking(conn, tenant_id) or {}


def open_run(conn: psycopg.Connection, tenant_id: str) -> dict[str, Any] | None:
    return _one(
        conn,
        "SELECT * FROM provisioning.runs WHERE tenant_id = %s AND state = ANY(%s)",
        (tenant_id, list(plan.OPEN_RUN_STATES)),
    )


def request_run(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    origin: str,
    requested_by: str,
    settings: Settings | None = None,
    slug: str | None = None,
) -> tuple[str, bool]:
    """The tenant's unfinished run (resumed) or a new one with its five pending steps. Returns (run_id, resumed)."""
    settings = settings or get_settings()
    ensure_tracking(conn, tenant_id, settings, slug)
    with conn.transaction():
        existing = open_run(conn, tenant_id)
        if existing is not None:
            return str(existing["run_id"]), True
        run = _one(
            conn,
            """INSERT INTO provisioning.runs (tenant_id, origin, requested_by) VALUES (%s, %s, %s)
               ON CONFLICT DO NOTHING RETURNING run_id""",
            (tenant_id, origin, requested_by),
        )
        if run is None:  # requested concurrently
            return str((open_run(conn, tenant_id) or {})["run_id"]), True
        ensure_steps(conn, str(run["run_id"]), tenant_id)
    return str(run["run_id"]), False


def ensure_steps(conn: psycopg.Connection, run_id: str, tenant_id: str) -> None:
    """The five step rows of a run (a run requested by the console has none yet)."""
    for position, step in enumerate(plan.STEPS, start=1):
        conn.execute(
            """INSERT INTO provisioning.steps (run_id, tenant_id, step, position) VALUES (%s, %s, %s, %s)
               ON CONFLICT DO NOTHING""",
            (run_id, tenant_id, step, position),
        )


def run_row(conn: psycopg.Connection, run_id: str) -> dict[str, Any]:
    row = _one(conn, "SELECT * FROM provisioning.runs WHERE run_id = %s", (run_id,))
    if row is None:
        raise ProvisionError(f"no provisioning run {run_id}")
    return row


def step_rows(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    return _all(conn, "SELECT * FROM provisioning.steps WHERE run_id = %s ORDER BY position", (run_id,))


def _step(conn: psycopg.Connection, run_id: str, step: str) -> dict[str, Any]:
    row = _one(conn, "SELECT * FROM provisioning.steps WHERE run_id = %s AND step = %s", (run_id, step))
    if row is None:
        raise ProvisionError(f"run {run_id} has no step {step}")
    return row


def _update_step(conn: psycopg.Connection, run_id: str, step: str, **values: Any) -> None:
    sets = []
    params: list[Any] = []
    for name, value in values.items():
        if name in ("external_ids", "details"):
            sets.append(f"{name} = {name} || %s")
            params.append(Jsonb(value))
        else:
            sets.append(f"{name} = %s")
            params.append(value)
    conn.execute(
        f"UPDATE provisioning.steps SET {', '.join(sets)}, updated_at = now() WHERE run_id = %s AND step = %s",
        (*params, run_id, step),
    )


def _set_run(conn: psycopg.Connection, run_id: str, state: str, error: str | None = None) -> None:
    finished = state in ("succeeded", "failed", "rolled_back")
    conn.execute(
        """UPDATE provisioning.runs SET state = %s, error = %s, updated_at = now(),
                  finished_at = CASE WHEN %s THEN now() ELSE NULL END WHERE run_id = %s""",
        (state, error, finished, run_id),
    )


def runnable_runs(conn: psycopg.Connection, stale_after_seconds: float = 900.0) -> list[dict[str, Any]]:
    """What the Dagster sensor starts: requested runs; waiting runs whose tenant has a gate pass or an
    approval newer than the blocked publish step (the person did what was asked); and running runs nothing
    touched for ``stale_after_seconds`` (their process died: resume them). ``run_key`` changes with each of
    those, so one request starts one Dagster run."""
    return _all(
        conn,
        """SELECT r.run_id::text, r.tenant_id::text, r.state,
                  r.run_id::text || ':' || extract(epoch FROM greatest(r.updated_at, s.updated_at))::text AS run_key
             FROM provisioning.runs r
             LEFT JOIN provisioning.steps s ON s.run_id = r.run_id AND s.step = 'gtm_publish'
            WHERE r.state = 'requested'
               OR (r.state = 'running' AND NOT EXISTS (
                     SELECT 1 FROM provisioning.steps x WHERE x.run_id = r.run_id
                        AND x.updated_at > now() - make_interval(secs => %s))
                   AND r.updated_at < now() - make_interval(secs => %s))
               OR (r.state = 'waiting' AND s.state = 'blocked' AND (
                     EXISTS (SELECT 1 FROM provisioning.approvals a
                              WHERE a.tenant_id = r.tenant_id AND a.approved_at > s.updated_at)
                  OR EXISTS (SELECT 1 FROM setup.gate_passes g
                              WHERE g.tenant_id = r.tenant_id AND g.passed_at > s.updated_at)))
            ORDER BY r.created_at""",
        (stale_after_seconds, stale_after_seconds),
    )


# --- the steps -----------------------------------------------------------------------------------------


@dataclass
class StepContext:
    conn: psycopg.Connection
    clients: Clients
    settings: Settings
    run_id: str
    tenant_id: str
    row: dict[str, Any]
    hook: Hook
    track: dict[str, Any] = field(default_factory=dict)

    def save_ids(self, **ids: Any) -> None:
        """External ids, committed at once (before anything else can fail)."""
        _update_step(self.conn, self.run_id, self.row["step"], external_ids=ids)
        self.row["external_ids"] = {**self.row["external_ids"], **ids}

    def save_details(self, **details: Any) -> None:
        _update_step(self.conn, self.run_id, self.row["step"], details=details)
        self.row["details"] = {**self.row["details"], **details}


def _require(value: str, variable: str) -> str:
    if not value:
        raise ConfigurationMissing(f"{variable} is not set")
    return value


def step_cloudflare_dns(ctx: StepContext) -> None:
    p = ctx.settings.provision
    host = ctx.track["hostname"]
    zone_id = ctx.clients.dns.zone_id(_require(p.cf_base_domain, "CF_BASE_DOMAIN"))
    ctx.save_details(create_attempted=True)
    record, created = ctx.clients.dns.ensure_cname(zone_id, host, p.stape_cname_target)
    if created:
        ctx.hook("cloudflare_dns", "created")
    ctx.save_ids(zone_id=zone_id, record_id=record.record_id, name=host)
    ctx.save_details(content=record.content, proxied=record.proxied, created_now=created)
    _set_tracking(ctx.conn, ctx.tenant_id, cf_zone_id=zone_id, dns_record_id=record.record_id)


def step_stape_container(ctx: StepContext) -> None:
    p = ctx.settings.provision
    name = plan.resource_name(ctx.track["slug"])
    container = ctx.clients.stape.find_container(name)
    created = container is None
    if container is None:
        ctx.save_details(create_attempted=True)
        container = ctx.clients.stape.create_container(name, p.stape_zone, ctx.track["hostname"])
        ctx.hook("stape_container", "created")
    ctx.save_ids(container_id=container.identifier, name=name)
    deadline = ctx.row["details"].get("deadline_at")
    if deadline is None:  # fixed at the first poll: a resumed run keeps the original deadline
        deadline = time.time() + p.stape_deadline_seconds
        ctx.save_details(deadline_at=deadline, created_now=created)
    active = ctx.clients.stape.wait_active(container.identifier, float(deadline), p.stape_poll_seconds)
    url = plan.tagging_server_url(ctx.track["hostname"])
    ctx.save_details(status=active.status, tagging_server_url=url)
    _set_tracking(ctx.conn, ctx.tenant_id, stape_container_id=active.identifier, tagging_server_url=url)


def step_gtm_container(ctx: StepContext) -> None:
    account = _require(ctx.settings.provision.gtm_account_id, "TRACKAI_PROVISION_GTM_ACCOUNT_ID")
    name = plan.resource_name(ctx.track["slug"])
    container = ctx.clients.gtm.find_container(account, name)
    created = container is None
    if container is None:
        ctx.save_details(create_attempted=True)
        container = ctx.clients.gtm.create_container(account, name, ctx.track["hostname"])
        ctx.hook("gtm_container", "created")
    ctx.save_ids(
        container_path=container["path"],
        container_id=container["containerId"],
        public_id=container["publicId"],
    )
    ctx.save_details(created_now=created)
    _set_tracking(
        ctx.conn,
        ctx.tenant_id,
        gtm_account_id=account,
        gtm_container_id=container["containerId"],
        gtm_public_id=container["publicId"],
    )


def _template_values(ctx: StepContext) -> dict[str, str]:
    pixel = _one(ctx.conn, "SELECT pixel_id FROM core.tenants WHERE tenant_id = %s", (ctx.tenant_id,))
    pixel_id = (pixel or {}).get("pixel_id", "")
    return {
        "pixel_id": pixel_id,
        "server_url": plan.tagging_server_url(ctx.track["hostname"]),
        "domain": ctx.track["hostname"].split(".track.", 1)[-1],
        "tenant_id": ctx.tenant_id.lower(),
        "event_id_js": EVENT_ID_JS,
        "measurement_id": ctx.settings.provision.ga4_measurement_id or f"G-{pixel_id}",
    }


def _container_path(ctx: StepContext) -> str:
    path = _step(ctx.conn, ctx.run_id, "gtm_container")["external_ids"].get("container_path")
    if not path:
        raise ProvisionError("gtm_container has not run: no container path")
    return path


def step_gtm_workspace(ctx: StepContext) -> None:
    gtm = ctx.clients.gtm
    workspace = gtm.ensure_workspace(_container_path(ctx), plan.WORKSPACE_NAME)
    ws_path = workspace["path"]
    ctx.save_ids(workspace_id=workspace["workspaceId"], workspace_path=ws_path)
    rendered = plan.render_template(load_template(), _template_values(ctx))
    trigger_ids: dict[str, str] = {}
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for kind in ("variables", "triggers", "tags"):
        existing = {e["name"]: e for e in gtm.entities(ws_path, kind)}
        for wanted in rendered[kind]:
            entity = {k: v for k, v in wanted.items() if k != "firingTriggerName"}
            if "firingTriggerName" in wanted:
                entity["firingTriggerId"] = [trigger_ids[n] for n in wanted["firingTriggerName"]]
            found = existing.get(entity["name"])
            if found is None:
                found = gtm.create_entity(ws_path, kind, entity)
                counts["created"] += 1
            elif plan.entity_fingerprint(found) != plan.entity_fingerprint(entity) or found.get(
                "firingTriggerId", []
            ) != entity.get("firingTriggerId", []):
                found = gtm.update_entity(found["path"], entity, found.get("fingerprint", ""))
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if kind == "triggers":
                trigger_ids[entity["name"]] = found["triggerId"]
    diff = plan.workspace_diff(gtm.workspace_status(ws_path))
    ctx.save_details(diff=diff, fingerprint=plan.diff_fingerprint(diff), changes=len(diff), **counts)
    _set_tracking(ctx.conn, ctx.tenant_id, gtm_workspace_id=workspace["workspaceId"])


def latest_approval(conn: psycopg.Connection, tenant_id: str, workspace_path: str) -> dict[str, Any] | None:
    return _one(
        conn,
        """SELECT * FROM provisioning.approvals WHERE tenant_id = %s AND gtm_workspace_path = %s
            ORDER BY approved_at DESC LIMIT 1""",
        (tenant_id, workspace_path),
    )


def version_name(fingerprint: str) -> str:
    return f"trackai {fingerprint[:16]}"


def step_gtm_publish(ctx: StepContext) -> None:
    from trackai.setup import gates  # contract C1 (issue 16)

    gtm = ctx.clients.gtm
    container_path = _container_path(ctx)
    ws_path = _step(ctx.conn, ctx.run_id, "gtm_workspace")["external_ids"].get("workspace_path")
    if not ws_path:
        raise ProvisionError("gtm_workspace has not run: no workspace path")
    gate = gates.latest_pass(ctx.conn, ctx.tenant_id)
    approval = latest_approval(ctx.conn, ctx.tenant_id, ws_path)
    version = (
        gtm.find_version(container_path, version_name(approval["diff_fingerprint"])) if approval else None
    )
    if version is None or gate is None:
        diff = plan.workspace_diff(gtm.workspace_status(ws_path))
        decision = plan.publish_decision(
            gate.passed_at if gate else None,
            approval["diff_fingerprint"] if approval else None,
            plan.diff_fingerprint(diff),
            len(diff),
        )
        if not decision.allowed:
            ctx.save_details(blocked_reason=decision.reason, current_fingerprint=plan.diff_fingerprint(diff))
            raise PublishBlocked(decision.reason, decision.message)
    if version is None:
        assert approval is not None
        notes = f"approved by {approval['approved_by']} at {approval['approved_at'].isoformat()}"
        version = gtm.create_version(ws_path, version_name(approval["diff_fingerprint"]), notes)
        ctx.hook("gtm_publish", "version_created")
    version_id = str(version["containerVersionId"])
    ctx.save_ids(version_id=version_id, approval_id=str(approval["approval_id"]) if approval else None)
    if gtm.live_version_id(container_path) != version_id:
        gtm.publish(container_path, version_id)
    assert gate is not None and approval is not None
    ctx.save_details(
        approved_by=approval["approved_by"],
        approved_at=approval["approved_at"].isoformat(),
        gate_event_id=gate.event_id,
        gate_passed_at=gate.passed_at.isoformat(),
        blocked_reason=None,
    )
    _set_tracking(ctx.conn, ctx.tenant_id, published_version_id=version_id, published_at=datetime.now(UTC))


STEP_FUNCTIONS: dict[str, Callable[[StepContext], None]] = {
    "cloudflare_dns": step_cloudflare_dns,
    "stape_container": step_stape_container,
    "gtm_container": step_gtm_container,
    "gtm_workspace": step_gtm_workspace,
    "gtm_publish": step_gtm_publish,
}


def _no_hook(step: str, event: str) -> None:
    return None


@contextmanager
def tenant_lock(conn: psycopg.Connection, tenant_id: str) -> Iterator[None]:
    """One process at a time works on a tenant's provisioning (the CLI, a Dagster run, a second Dagster
    run): a session advisory lock, so two lookups-by-name can never both miss and both create. Reentrant
    in the same session (compensation inside a step takes it again)."""
    key = f"trackai.provisioning:{tenant_id}"
    row = _one(conn, "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS locked", (key,))
    if not (row and row["locked"]):
        raise ApiError("saga", None, "another process is provisioning this tenant right now", retryable=True)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def execute_step(
    conn: psycopg.Connection,
    clients: Clients,
    run_id: str,
    step: str,
    settings: Settings | None = None,
    *,
    final_attempt: bool = True,
    hook: Hook = _no_hook,
) -> str:
    """Run one step of a run; returns its state (``done``, ``blocked``, ``failed``).

    A retryable error with attempts left is recorded and re-raised (the caller retries). A failure for
    good compensates the run and returns ``failed``. Anything that is not an Exception (a crash, a kill)
    leaves the step ``running``: a re-run finds what it created by name. Another process working on the
    same tenant makes it raise a retryable error before anything is touched."""
    settings = settings or get_settings()
    with tenant_lock(conn, str(run_row(conn, run_id)["tenant_id"])):
        return _execute_step(conn, clients, run_id, step, settings, final_attempt=final_attempt, hook=hook)


def _execute_step(
    conn: psycopg.Connection,
    clients: Clients,
    run_id: str,
    step: str,
    settings: Settings,
    *,
    final_attempt: bool,
    hook: Hook,
) -> str:
    run = run_row(conn, run_id)
    if run["state"] in ("succeeded", "failed", "rolled_back"):
        raise RunFinished(f"run {run_id} is {run['state']}; request a new run")
    tenant_id = str(run["tenant_id"])
    ensure_steps(conn, run_id, tenant_id)
    row = _step(conn, run_id, step)
    if row["state"] == "done":
        return "done"
    _update_step(
        conn,
        run_id,
        step,
        state="running",
        attempts=row["attempts"] + 1,
        error=None,
        started_at=row["started_at"] or datetime.now(UTC),
        finished_at=None,
    )
    row["attempts"] += 1
    if run["state"] != "running":
        _set_run(conn, run_id, "running")
    track = tracking(conn, tenant_id) or ensure_tracking(conn, tenant_id, settings)
    ctx = StepContext(conn, clients, settings, run_id, tenant_id, row, hook, track)
    try:
        STEP_FUNCTIONS[step](ctx)
    except PublishBlocked as blocked:
        _update_step(conn, run_id, step, state="blocked", error=str(blocked))
        _set_run(conn, run_id, "waiting", str(blocked))
        log.info("provisioning publish blocked", extra={"tenant_id": tenant_id, "reason": blocked.reason})
        return "blocked"
    except Exception as exc:
        retryable = isinstance(exc, ApiError) and exc.retryable
        message = f"{type(exc).__name__}: {exc}"[:2000]
        if retryable and not final_attempt:
            _update_step(conn, run_id, step, state="pending", error=message)
            raise
        _update_step(conn, run_id, step, state="failed", error=message, finished_at=datetime.now(UTC))
        log.warning("provisioning step failed", extra={"tenant_id": tenant_id, "reason": step})
        compensate(conn, clients, run_id, f"{step}: {message}", settings)
        return "failed"
    _update_step(conn, run_id, step, state="done", finished_at=datetime.now(UTC))
    if step == plan.STEPS[-1]:
        _set_run(conn, run_id, "succeeded")
    return "done"


def compensate(
    conn: psycopg.Connection, clients: Clients, run_id: str, error: str, settings: Settings | None = None
) -> str:
    """Undo what the run created, in reverse order; the run ends ``rolled_back`` (or ``failed`` when an undo
    itself failed: the step's error says what to delete by hand, docs/provisioning.md)."""
    settings = settings or get_settings()
    with tenant_lock(conn, str(run_row(conn, run_id)["tenant_id"])):
        return _compensate(conn, clients, run_id, error, settings)


def _compensate(
    conn: psycopg.Connection, clients: Clients, run_id: str, error: str, settings: Settings
) -> str:
    run = run_row(conn, run_id)
    tenant_id = str(run["tenant_id"])
    _set_run(conn, run_id, "rolling_back", error)
    rows = {r["step"]: r for r in step_rows(conn, run_id)}
    track = tracking(conn, tenant_id) or {}
    started = [s for s, r in rows.items() if r["attempts"] > 0 and r["state"] != "compensated"]
    failures = 0
    for step in plan.compensation_order(started):
        _update_step(conn, run_id, step, state="compensating")
        ids = rows[step]["external_ids"]
        try:
            # nothing recorded and no create ever sent: nothing outside to undo
            attempted = bool(ids) or rows[step]["details"].get("create_attempted")
            deleted = _undo(clients, settings, step, ids, track) if attempted else False
        except Exception as exc:
            failures += 1
            _update_step(conn, run_id, step, state="failed", error=f"compensation failed: {exc}"[:2000])
            continue
        _update_step(conn, run_id, step, state="compensated", details={"deleted": deleted})
        cleared = {
            "cloudflare_dns": {"cf_zone_id": None, "dns_record_id": None},
            "stape_container": {"stape_container_id": None, "tagging_server_url": None},
            "gtm_container": {"gtm_container_id": None, "gtm_public_id": None, "gtm_workspace_id": None},
        }[step]
        _set_tracking(conn, tenant_id, **cleared)
    _set_run(conn, run_id, "failed" if failures else "rolled_back", error)
    return "failed" if failures else "rolled_back"


def _undo(
    clients: Clients, settings: Settings, step: str, ids: dict[str, Any], track: dict[str, Any]
) -> bool:
    """Delete one step's resource, by its recorded id or else found by name (a crash before the id was saved)."""
    if step == "cloudflare_dns":
        zone_id = ids.get("zone_id") or clients.dns.zone_id(settings.provision.cf_base_domain)
        record_id = ids.get("record_id")
        if not record_id:
            found = clients.dns.find_cname(zone_id, track["hostname"])
            record_id = found.record_id if found else None
        return clients.dns.delete(zone_id, record_id) if record_id else False
    if step == "stape_container":
        container_id = ids.get("container_id")
        if not container_id:
            found = clients.stape.find_container(plan.resource_name(track["slug"]))
            container_id = found.identifier if found else None
        return clients.stape.delete_container(container_id) if container_id else False
    path = ids.get("container_path")
    if not path:
        found = clients.gtm.find_container(
            settings.provision.gtm_account_id, plan.resource_name(track["slug"])
        )
        path = found["path"] if found else None
    return clients.gtm.delete_container(path) if path else False


def run_saga(
    conn: psycopg.Connection,
    clients: Clients,
    run_id: str,
    settings: Settings | None = None,
    *,
    attempts_per_step: int = 3,
    backoff_seconds: float = 1.0,
    hook: Hook = _no_hook,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Every step in order, in this process (``trackai provision``); returns the run's state."""
    settings = settings or get_settings()
    for step in plan.STEPS:
        for attempt in range(1, attempts_per_step + 1):
            try:
                state = execute_step(
                    conn,
                    clients,
                    run_id,
                    step,
                    settings,
                    final_attempt=attempt == attempts_per_step,
                    hook=hook,
                )
            except ApiError:
                sleep(backoff_seconds * 2 ** (attempt - 1))
                continue
            break
        if state != "done":
            break
    return run_row(conn, run_id)["state"]


def record_approval(
    conn: psycopg.Connection, tenant_id: str, run_id: str, *, approved_by: str, user_id: str | None
) -> dict[str, Any]:
    """A person approved the workspace diff the run's ``gtm_workspace`` step recorded (the diff shown in the
    review screen). Works under the console's row-level security (the caller's tenant transaction)."""
    ws = _one(
        conn,
        """SELECT external_ids, details FROM provisioning.steps
            WHERE run_id = %s AND tenant_id = %s AND step = 'gtm_workspace' AND state = 'done'""",
        (run_id, tenant_id),
    )
    if ws is None or not ws["details"].get("fingerprint"):
        raise ProvisionError("nothing to approve yet: the GTM workspace step has not finished")
    row = _one(
        conn,
        """INSERT INTO provisioning.approvals
               (tenant_id, gtm_workspace_path, diff_fingerprint, diff, approved_by, approved_by_user_id)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING approval_id, approved_at""",
        (
            tenant_id,
            ws["external_ids"]["workspace_path"],
            ws["details"]["fingerprint"],
            Jsonb(ws["details"].get("diff", [])),
            approved_by,
            user_id,
        ),
    )
    assert row is not None
    return row


def attach_dagster_run(conn: psycopg.Connection, run_id: str, dagster_run_id: str) -> None:
    """Which Dagster run is executing the saga run (the console links to it)."""
    conn.execute(
        "UPDATE provisioning.runs SET dagster_run_id = %s, updated_at = now() WHERE run_id = %s",
        (dagster_run_id, run_id),
    )


def step_table(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    """The rows the closing note and ``trackai provision status`` print."""
    return [
        {
            "position": r["position"],
            "step": r["step"],
            "state": r["state"],
            "attempts": r["attempts"],
            "external_ids": r["external_ids"],
            "error": r["error"],
        }
        for r in step_rows(conn, run_id)
    ]
