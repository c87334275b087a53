"""The demo's billing story end to end: ingest (HTTP) -> micro-batch -> dispatch to the Graph API fake ->
warn -> block -> upgrade -> release, invoice, reconciliation green."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db
from trackai.settings import Settings
from trackai_cli.capi_mock import MockConfig, MockServer
from trackai_cli.demo_billing import run_billing_demo


def test_warn_block_upgrade_release(pg_url, conn, setenv) -> None:
    with MockServer(MockConfig(seed=11)) as graph:
        setenv("TRACKAI_META_GRAPH_URL", graph.url)
        setenv("TRACKAI_WEBHOOK_RATE_LIMIT_PER_MIN", "100000")
        app = create_app(Settings(), database_url=db.with_user(pg_url, "trackai_app_rw"))
        with TestClient(app) as ingest:
            tenant, lines = run_billing_demo(pg_url, ingest, seed=1)
        print("\n".join(lines))
        assert len(graph.event_ids()) == 13 and len(set(graph.event_ids())) == 13
    text = "\n".join(lines)
    assert "warn:    8 sent, usage 8/10 (warning), notices [80]%" in text
    assert "block:   2 sent, 3 held at quota, usage 10/10 (at_quota), notices [80, 100]%" in text
    assert "upgrade: demo-small -> demo-plus (upgrade) at usage 10" in text
    assert "release: 3 released, 3 sent, usage 13/100, still held 0" in text
    assert "reconciliation: green (billed 13, ledger 13, accepted 13)" in text
    kinds = [
        r[0]
        for r in conn.execute(
            "SELECT kind FROM billing.billing_events WHERE tenant_id = %s ORDER BY billing_event_id",
            (tenant,),
        ).fetchall()
    ]
    assert kinds == ["plan_change", "threshold", "block", "threshold", "plan_change", "release"]
