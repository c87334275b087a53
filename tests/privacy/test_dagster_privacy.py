"""The privacy domain in the code location: the deadline check (ERROR) fails and alerts through
trackai.alerts.send_alert before a request's deadline passes; the retention asset deletes expired
quarantined bodies only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project.defs import privacy as privacy_defs
from dagster_project.lib.resources import PostgresResource
from trackai import db, secrets
from trackai.privacy import requests, subjects

pytestmark = pytest.mark.integration


def test_domain_is_described_grouped_and_scheduled() -> None:
    defs = dg.Definitions.merge(
        privacy_defs.build_defs(), dg.Definitions(resources={"postgres": PostgresResource()})
    )
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert (node.description or "").strip() and node.group_name in ("privacy", "landing"), key
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {privacy_defs.ALARM_SCHEDULE, privacy_defs.RETENTION_SCHEDULE}
    (spec,) = privacy_defs.privacy_request_deadlines.check_specs
    assert spec.description.startswith("[ERROR]")


def test_deadline_check_fails_and_alerts_once_a_day(pg_url, conn, make_tenant, alert_webhook) -> None:
    tenant, _ = make_tenant()
    now = datetime.now(UTC)
    soon = subjects.subject_of(tenant, email="soon@example.com")
    later = subjects.subject_of(tenant, email="later@example.com")
    # received 13 days ago: 2 days left (inside the 3-day window); one received today is not due
    due_id = requests.open_request(conn, soon, "test", now=now - timedelta(days=13))
    requests.open_request(conn, later, "test", now=now)

    result = privacy_defs.privacy_request_deadlines(
        PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))
    )
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["request_ids"].value == [due_id]
    assert len(alert_webhook.json_bodies("/hook")) == 1
    alert = alert_webhook.json_bodies("/hook")[0]["trackai"]
    assert alert["severity"] == "ERROR" and alert["details"]["request_ids"] == [due_id]
    assert "soon@example.com" not in str(alert_webhook.json_bodies("/hook"))
    # Still due an hour later: the check fails again but the request is not re-alerted within 24 h.
    again = privacy_defs.privacy_request_deadlines(
        PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))
    )
    assert not again.passed and len(alert_webhook.json_bodies("/hook")) == 1
    events = [e["action"] for e in requests.events_of(conn, due_id)]
    assert events == ["opened", "alerted"]
    # Answered: the check passes.
    conn.execute("UPDATE privacy.requests SET state = 'exported' WHERE request_id = %s", (due_id,))
    assert privacy_defs.privacy_request_deadlines(
        PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))
    ).passed


def test_quarantine_retention_deletes_only_expired_bodies(pg_url, conn, make_tenant) -> None:
    tenant, _ = make_tenant()
    for age_days in (45, 29, 1):
        conn.execute(
            """INSERT INTO landing.webhook_quarantine (tenant_id, gateway, payload_ciphertext, error, received_at)
               VALUES (%s, 'kiwify', %s, 'MappingError', now() - make_interval(days => %s))""",
            (tenant, secrets.encrypt(b'{"Customer": {"email": "old@example.com"}}'), age_days),
        )
    result = dg.materialize(
        [privacy_defs.quarantine_retention, privacy_defs.quarantine_spec],
        resources={"postgres": PostgresResource(url=db.with_user(pg_url, "trackai_pipeline"))},
        selection=[privacy_defs.QUARANTINE_RETENTION],
    )
    assert result.success
    ages = [
        r[0]
        for r in conn.execute(
            "SELECT extract(day FROM now() - received_at)::int FROM landing.webhook_quarantine WHERE tenant_id = %s "
            "ORDER BY 1",
            (tenant,),
        )
    ]
    assert ages == [1, 29]
