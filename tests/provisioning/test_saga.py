"""The provisioning saga against the three fakes: the happy path with the publish gate, a Stape timeout
rolled back, 429/5xx/timeouts retried, and a crash at every create followed by a re-run that creates
nothing twice (issue 17, docs/provisioning.md)."""

from __future__ import annotations

import time

import psycopg
import pytest
from helpers import print_step_table

from trackai.core import provisioning_plan as plan
from trackai.provisioning import saga
from trackai.provisioning.errors import ApiError
from trackai.setup import gates
from trackai_cli.provision_fakes.server import ProvisionFakes


class Crash(BaseException):
    """A process killed mid-step (not an Exception: nothing catches it, nothing is compensated)."""


def _run(conn, settings, tenant, **kw) -> tuple[str, str]:
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    clients = saga.build_clients(settings)
    try:
        return run_id, saga.run_saga(conn, clients, run_id, settings, backoff_seconds=0.05, **kw)
    finally:
        clients.close()


def _approve(conn, tenant: str, run_id: str) -> None:
    saga.record_approval(conn, tenant, run_id, approved_by="revisora@loja.example", user_id=None)


def _pass_gate(conn, tenant: str) -> None:
    gates.record_pass(conn, tenant, "test_capi_event", "e" * 64, "test", {"events_received": 1})


def test_happy_path_publishes_only_after_the_test_event_and_a_persons_approval(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    run_id, state = _run(conn, settings, tenant)
    assert state == "waiting"
    steps = {r["step"]: r for r in saga.step_table(conn, run_id)}
    assert [steps[s]["state"] for s in plan.STEPS] == ["done", "done", "done", "done", "blocked"]
    assert "test CAPI event has not passed" in steps["gtm_publish"]["error"]
    assert fakes.gtm.published == []

    # an approval alone is not enough
    _approve(conn, tenant, run_id)
    assert _run(conn, settings, tenant) == (run_id, "waiting")
    assert "test CAPI event" in saga.step_table(conn, run_id)[-1]["error"]

    # the test event alone is not enough either (another tenant's view: the approval is for a changed diff)
    track = saga.tracking(conn, tenant)
    conn.execute("DELETE FROM provisioning.approvals WHERE tenant_id = %s", (tenant,))
    _pass_gate(conn, tenant)
    assert _run(conn, settings, tenant) == (run_id, "waiting")
    assert "nobody approved" in saga.step_table(conn, run_id)[-1]["error"]
    assert fakes.gtm.published == []

    _approve(conn, tenant, run_id)
    assert _run(conn, settings, tenant) == (run_id, "succeeded")
    rows = print_step_table("happy run", conn, run_id)
    assert [r["state"] for r in rows] == ["done"] * 5

    track = saga.tracking(conn, tenant)
    host = f"{track['slug']}.track.{fakes.base_domain}"
    assert track["hostname"] == host
    records = fakes.cloudflare.records_named(host)
    assert len(records) == 1
    assert records[0]["proxied"] is False and records[0]["type"] == "CNAME"
    assert records[0]["content"] == settings.provision.stape_cname_target
    assert track["dns_record_id"] == records[0]["id"]
    container = fakes.stape.containers[track["stape_container_id"]]
    assert container["status"] == "active" and container["name"] == plan.resource_name(track["slug"])
    assert track["tagging_server_url"] == f"https://{host}"
    gtm_path = f"accounts/{track['gtm_account_id']}/containers/{track['gtm_container_id']}"
    gtm = fakes.gtm.containers[gtm_path]
    assert gtm["public"]["publicId"] == track["gtm_public_id"]
    assert (gtm_path, track["published_version_id"]) in fakes.gtm.published
    version = gtm["versions"][track["published_version_id"]]
    assert {v["name"] for v in version["variables"]} >= {
        "TrackAI - Pixel ID",
        "TrackAI - Server URL",
        "TrackAI - Domain",
    }
    server_url = next(v for v in version["variables"] if v["name"] == "TrackAI - Server URL")
    assert server_url["parameter"][0]["value"] == f"https://{host}"
    tags = {t["name"]: t for t in version["tags"]}
    assert (
        "crypto.subtle.digest" in tags["TrackAI - Purchase (Pixel, shared event_id)"]["parameter"][0]["value"]
    )
    publish = saga.step_table(conn, run_id)[-1]
    assert publish["external_ids"]["version_id"] == track["published_version_id"]
    detail = conn.execute(
        "SELECT details FROM provisioning.steps WHERE run_id = %s AND step = 'gtm_publish'", (run_id,)
    ).fetchone()[0]
    assert detail["approved_by"] == "revisora@loja.example" and detail["gate_event_id"] == "e" * 64

    # running it again does nothing: the run is over, a new one finds everything by name
    created = (fakes.cloudflare.created, fakes.stape.created, fakes.gtm.created, len(fakes.gtm.published))
    run2, state2 = _run(conn, settings, tenant)
    # nothing changed: the approved version is found by name and is already live, so nothing is published again
    assert run2 != run_id and state2 == "succeeded"
    assert (
        fakes.cloudflare.created,
        fakes.stape.created,
        fakes.gtm.created,
        len(fakes.gtm.published),
    ) == created


def test_publish_refused_when_the_workspace_changed_after_approval(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    run_id, _ = _run(conn, settings, tenant)
    _pass_gate(conn, tenant)
    _approve(conn, tenant, run_id)
    # someone edits the workspace after the review
    ws_path = saga.step_table(conn, run_id)[3]["external_ids"]["workspace_path"]
    clients = saga.build_clients(settings)
    try:
        variable = next(
            v for v in clients.gtm.entities(ws_path, "variables") if v["name"] == "TrackAI - Domain"
        )
        changed = {
            **variable,
            "notes": "edited",
            "parameter": [{"type": "template", "key": "value", "value": "evil.example"}],
        }
        clients.gtm.update_entity(variable["path"], changed, variable["fingerprint"])
    finally:
        clients.close()
    assert _run(conn, settings, tenant) == (run_id, "waiting")
    assert "changed after it was approved" in saga.step_table(conn, run_id)[-1]["error"]
    assert not any(
        path.endswith(saga.tracking(conn, tenant)["gtm_container_id"]) for path, _ in fakes.gtm.published
    )


def test_stape_container_stuck_creating_rolls_back_the_cname(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    fakes.stape.stuck = True
    settings.provision.stape_deadline_seconds = 1.0
    settings.provision.stape_poll_seconds = 0.2
    started = time.monotonic()
    run_id, state = _run(conn, settings, tenant)
    elapsed = time.monotonic() - started
    rows = print_step_table("stape timeout → rollback", conn, run_id)
    assert state == "rolled_back"
    assert 1.0 <= elapsed < 10
    assert [r["state"] for r in rows] == ["compensated", "compensated", "pending", "pending", "pending"]
    assert "still 'creating' at the deadline" in rows[1]["error"]
    track = saga.tracking(conn, tenant)
    assert fakes.cloudflare.records_named(track["hostname"]) == []  # the CNAME is gone
    assert fakes.stape.named(plan.resource_name(track["slug"])) == []  # and the stuck container
    assert track["dns_record_id"] is None and track["stape_container_id"] is None
    run = saga.run_row(conn, run_id)
    assert run["finished_at"] is not None and "deadline" in run["error"]
    # a new request starts a new run (the rolled-back one is over) and creates again
    fakes.stape.stuck = False
    run2, state2 = _run(conn, settings, tenant)
    assert run2 != run_id and state2 == "waiting"
    assert len(fakes.cloudflare.records_named(track["hostname"])) == 1


def test_429_is_retried_after_retry_after(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    fakes.cloudflare.faults.add("POST", r"/dns_records$", 429, headers={"Retry-After": "1"})
    fakes.stape.faults.add("POST", r"^/containers$", 429, headers={"Retry-After": "1"})
    slept: list[float] = []
    clients = saga.build_clients(settings, sleep=lambda s: (slept.append(s), time.sleep(s)))
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    started = time.monotonic()
    try:
        saga.execute_step(conn, clients, run_id, "cloudflare_dns", settings)
        dns_seconds = time.monotonic() - started
        saga.execute_step(conn, clients, run_id, "stape_container", settings)
    finally:
        clients.close()
    assert fakes.cloudflare.faults.count("POST", r"/dns_records$", 429) >= 1
    assert dns_seconds >= 1.0  # the SDK waited the server's Retry-After
    assert 1.0 in slept  # Stape's client waited exactly Retry-After
    rows = saga.step_table(conn, run_id)
    assert [r["state"] for r in rows[:2]] == ["done", "done"]
    assert [r["attempts"] for r in rows[:2]] == [1, 1]  # retried inside one attempt, not by the saga


def test_5xx_and_timeouts_are_retried(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    fakes.gtm.faults.add("POST", r"/containers$", 503, times=2)
    fakes.stape.faults.add("GET", r"^/containers/", 200, delay=3.0)  # longer than the 2 s client timeout
    fakes.cloudflare.faults.add("GET", r"^/zones$", 500)
    run_id, state = _run(conn, settings, tenant)
    assert state == "waiting"
    assert fakes.gtm.faults.count("POST", r"/containers$", 503) >= 2
    rows = print_step_table("5xx and a timeout, retried", conn, run_id)
    assert [r["state"] for r in rows] == ["done", "done", "done", "done", "blocked"]


def test_a_step_that_keeps_failing_compensates_what_was_created(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    fakes.gtm.faults.add(
        "POST",
        r"/containers$",
        403,
        body={
            "error": {
                "code": 403,
                "message": "The caller does not have permission",
                "status": "PERMISSION_DENIED",
            }
        },
    )
    run_id, state = _run(conn, settings, tenant)
    rows = print_step_table("GTM 403 → rollback", conn, run_id)
    assert state == "rolled_back"
    assert [r["state"] for r in rows[:3]] == ["compensated", "compensated", "compensated"]
    assert "PERMISSION_DENIED" in rows[2]["error"]
    track = saga.tracking(conn, tenant)
    assert fakes.cloudflare.records_named(track["hostname"]) == []
    assert fakes.stape.named(plan.resource_name(track["slug"])) == []


@pytest.mark.parametrize(
    "crash_at",
    [
        ("cloudflare_dns", "created"),
        ("stape_container", "created"),
        ("gtm_container", "created"),
        ("gtm_publish", "version_created"),
    ],
)
def test_crash_after_a_create_then_rerun_creates_nothing_twice(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes, crash_at: tuple[str, str]
) -> None:
    _pass_gate(conn, tenant)
    if crash_at[0] == "gtm_publish":
        run_id, state = _run(conn, settings, tenant)
        assert state == "waiting"
        _approve(conn, tenant, run_id)

    def hook(step: str, event: str) -> None:
        if (step, event) == crash_at:
            raise Crash(f"killed after {step} {event}")

    before = (fakes.cloudflare.created, fakes.stape.created, fakes.gtm.created, len(fakes.gtm.published))
    with pytest.raises(Crash):
        _run(conn, settings, tenant, hook=hook)
    run_id = str(saga.open_run(conn, tenant)["run_id"])
    crashed = {r["step"]: r for r in saga.step_table(conn, run_id)}
    assert crashed[crash_at[0]]["state"] == "running"  # the kill left it mid-step
    _approve_after = crash_at[0] != "gtm_publish"
    run_again, state = _run(conn, settings, tenant)
    assert run_again == run_id  # the same run resumed
    if _approve_after:
        assert state == "waiting"
        _approve(conn, tenant, run_id)
        run_again, state = _run(conn, settings, tenant)
    assert state == "succeeded"
    after = (fakes.cloudflare.created, fakes.stape.created, fakes.gtm.created, len(fakes.gtm.published))
    created = tuple(a - b for a, b in zip(after, before, strict=True))
    expected_creates = (1, 1, 1, 1) if crash_at[0] != "gtm_publish" else (0, 0, 0, 1)
    assert created == expected_creates, f"{crash_at}: created {created}"
    track = saga.tracking(conn, tenant)
    assert len(fakes.cloudflare.records_named(track["hostname"])) == 1
    assert len(fakes.stape.named(plan.resource_name(track["slug"]))) == 1
    gtm_path = f"accounts/{track['gtm_account_id']}/containers/{track['gtm_container_id']}"
    assert len(fakes.gtm.containers[gtm_path]["versions"]) == 1  # one version, published once
    rows = saga.step_table(conn, run_id)
    # the crashed attempt and the resumed one (publish also ran once before, blocked on the approval)
    assert rows[plan.STEPS.index(crash_at[0])]["attempts"] == (3 if crash_at[0] == "gtm_publish" else 2)


def test_an_existing_proxied_record_is_corrected_to_proxied_false(
    conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    track = saga.ensure_tracking(conn, tenant, settings)
    zone_id = next(z for z, name in fakes.cloudflare.zones.items() if name == "example.com")
    fakes.cloudflare.records["pre"] = {
        "id": "pre",
        "zone_id": zone_id,
        "name": track["hostname"],
        "type": "CNAME",
        "content": "old.example",
        "proxied": True,
        "ttl": 1,
        "created_on": "2026-01-01T00:00:00Z",
        "modified_on": "2026-01-01T00:00:00Z",
    }
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    clients = saga.build_clients(settings)
    try:
        assert saga.execute_step(conn, clients, run_id, "cloudflare_dns", settings) == "done"
    finally:
        clients.close()
    record = fakes.cloudflare.records["pre"]
    assert record["proxied"] is False and record["content"] == settings.provision.stape_cname_target
    assert saga.step_table(conn, run_id)[0]["external_ids"]["record_id"] == "pre"


def test_wrong_credentials_fail_with_the_apis_own_message(
    conn: psycopg.Connection, settings, tenant: str
) -> None:
    settings.provision.cf_api_token = "not-the-token"
    run_id, state = _run(conn, settings, tenant)
    assert state == "rolled_back"
    assert "10000: Authentication error" in saga.step_table(conn, run_id)[0]["error"]


def test_a_second_process_on_the_same_tenant_waits_instead_of_creating(
    pg_url: str, conn: psycopg.Connection, settings, tenant: str, fakes: ProvisionFakes
) -> None:
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    clients = saga.build_clients(settings)
    try:
        with psycopg.connect(pg_url, autocommit=True) as other, saga.tenant_lock(other, tenant):
            before = fakes.cloudflare.created
            with pytest.raises(ApiError, match="another process") as busy:
                saga.execute_step(conn, clients, run_id, "cloudflare_dns", settings)
            assert busy.value.retryable and fakes.cloudflare.created == before
            assert saga.step_table(conn, run_id)[0]["attempts"] == 0  # nothing touched
        assert saga.execute_step(conn, clients, run_id, "cloudflare_dns", settings) == "done"
    finally:
        clients.close()
