"""Provisioning's step of `make demo` (issue 17): for each demo tenant, the saga against the three loopback
fakes. The setup step before it recorded the test-event gate, so the run stops at the review: publish
waits for a person's approval. For the first tenant the demo then records a scripted approval (labelled
as such: in real use a person approves on the console's review screen) and resumes the same run up to the
publish. Returns the lines the demo prints."""

from __future__ import annotations

import logging

from trackai import db
from trackai.provisioning import saga
from trackai.settings import Settings
from trackai_cli.provision_fakes.server import ProvisionFakes

SCRIPTED_APPROVER = "demo (scripted approval; a person approves on the console's review screen)"


def _line(name: str, run_state: str, rows: list[dict]) -> str:
    steps = " → ".join(f"{r['step']}:{r['state']}" for r in rows)
    return f"{name[:22]:22} {run_state:9} {steps}"


def run_provisioning_demo(url: str, tenants: list[dict]) -> list[str]:
    logger = logging.getLogger("trackai.provisioning")
    level = logger.level
    logger.setLevel(logging.WARNING)  # the demo prints the outcome; "publish blocked" lines would repeat it
    try:
        return _run(url, tenants)
    finally:
        logger.setLevel(level)


def _run(url: str, tenants: list[dict]) -> list[str]:
    lines = []
    with ProvisionFakes() as fakes, db.connect(url) as conn:
        settings = Settings(provision=fakes.provision_settings())
        clients = saga.build_clients(settings)
        try:
            for index, spec in enumerate(tenants):
                tenant = spec["tenant_id"]
                # a previous demo's unfinished run points at fakes that are gone: close it, start afresh
                conn.execute(
                    """UPDATE provisioning.runs SET state = 'rolled_back', finished_at = now(), updated_at = now(),
                              error = 'superseded by a new demo run (the fakes restarted)'
                        WHERE tenant_id = %s AND state IN ('requested', 'running', 'waiting', 'rolling_back')""",
                    (tenant,),
                )
                run_id, _ = saga.request_run(
                    conn, tenant, origin="cli", requested_by="demo", settings=settings
                )
                state = saga.run_saga(conn, clients, run_id, settings)
                if index == 0 and state == "waiting":
                    saga.record_approval(conn, tenant, run_id, approved_by=SCRIPTED_APPROVER, user_id=None)
                    state = saga.run_saga(conn, clients, run_id, settings)
                lines.append(_line(spec["name"], state, saga.step_table(conn, run_id)))
        finally:
            clients.close()
        lines.append(
            f"fakes: {len(fakes.cloudflare.records)} CNAME (proxied=false), {len(fakes.stape.containers)} Stape "
            f"containers, {len(fakes.gtm.containers)} GTM containers, {len(fakes.gtm.published)} published; "
            "review screen: console → Provisionamento (docs/provisioning.md)"
        )
    return lines
