"""``trackai provision --tenant ID``: the seller's tracking domain, Stape server container and GTM web
container (docs/provisioning.md).

    trackai provision --tenant ID [--slug SLUG]    run (or resume) the saga in this process
    trackai provision --tenant ID --request        only record the request; Dagster's sensor runs it
    trackai provision --tenant ID --status         the latest run's step table (JSON with --json)
    trackai provision --tenant ID --rollback       undo what the tenant's unfinished run created
    trackai provision --tenant ID --snippet        the thank-you snippet and the GTM loader for this tenant
    trackai provision --serve-fakes                the three API fakes on 127.0.0.1 (prints their settings)

Publishing GTM stays blocked until the setup gate passed and a person approved the diff in the console.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provision", help="provision a tenant's tracking domain, Stape and GTM containers")
    p.add_argument("--tenant", help="tenant id")
    p.add_argument("--slug", help="DNS label for {slug}.track.<CF_BASE_DOMAIN> (default: from the name)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--request", action="store_true", help="record the request for Dagster's sensor")
    mode.add_argument("--status", action="store_true", help="print the latest run's steps")
    mode.add_argument("--rollback", action="store_true", help="compensate the unfinished run")
    mode.add_argument("--snippet", action="store_true", help="print the thank-you snippet and GTM loader")
    mode.add_argument("--serve-fakes", action="store_true", help="run the three API fakes on loopback")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--actor", default="cli", help="who asked (recorded on the run)")
    p.set_defaults(handler=_provision)


def _provision(args: argparse.Namespace) -> int:
    if args.serve_fakes:
        return _serve_fakes()
    if not args.tenant:
        raise SystemExit("trackai provision: --tenant is required")
    import uuid

    from trackai import db
    from trackai.provisioning import saga
    from trackai.settings import get_settings

    tenant = str(uuid.UUID(args.tenant))
    settings = get_settings()
    with db.connect(db.database_url(announce=True)) as conn:
        if args.snippet:
            return _snippet(conn, tenant, settings)
        if args.status:
            run = conn.execute(
                "SELECT run_id::text FROM provisioning.runs WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1",
                (tenant,),
            ).fetchone()
            if run is None:
                print("no provisioning run for this tenant")
                return 1
            return _print(conn, run[0], args.json)
        if args.rollback:
            run = saga.open_run(conn, tenant)
            if run is None:
                print("no unfinished run to roll back")
                return 1
            clients = saga.build_clients(settings)
            try:
                saga.compensate(
                    conn, clients, str(run["run_id"]), f"rolled back by hand ({args.actor})", settings
                )
            finally:
                clients.close()
            return _print(conn, str(run["run_id"]), args.json)
        run_id, resumed = saga.request_run(
            conn, tenant, origin="cli", requested_by=args.actor, settings=settings, slug=args.slug
        )
        if args.request:
            print(
                json.dumps(
                    {"run_id": run_id, "resumed": resumed, "state": saga.run_row(conn, run_id)["state"]}
                )
            )
            return 0
        clients = saga.build_clients(settings)
        try:
            state = saga.run_saga(conn, clients, run_id, settings)
        finally:
            clients.close()
        _print(conn, run_id, args.json)
        return 0 if state in ("succeeded", "waiting") else 1


def _print(conn, run_id: str, as_json: bool) -> int:
    from trackai.provisioning import saga

    run = saga.run_row(conn, run_id)
    rows = saga.step_table(conn, run_id)
    if as_json:
        print(
            json.dumps(
                {"run_id": run_id, "state": run["state"], "error": run["error"], "steps": rows}, default=str
            )
        )
        return 0
    print(f"run {run_id}  state={run['state']}" + (f"  error={run['error']}" if run["error"] else ""))
    print(f"{'#':<2} {'step':<16} {'state':<12} {'attempts':>8}  external ids / error")
    for r in rows:
        ids = ", ".join(f"{k}={v}" for k, v in r["external_ids"].items() if v)
        print(
            f"{r['position']:<2} {r['step']:<16} {r['state']:<12} {r['attempts']:>8}  {ids}"
            + (f"  | {r['error']}" if r["error"] else "")
        )
    return 0


def _snippet(conn, tenant: str, settings) -> int:
    from trackai.core.thankyou_snippet import gtm_loader, render_thankyou_snippet
    from trackai.provisioning import saga

    track = saga.tracking(conn, tenant) or {}
    print("<!-- thank-you page: the Purchase with the server's event_id -->")
    print(f"<script>\n{render_thankyou_snippet(tenant)}</script>")
    if track.get("tagging_server_url") and track.get("gtm_public_id") and track.get("published_version_id"):
        print("<!-- every page: GTM from the first-party tagging server -->")
        print(gtm_loader(track["tagging_server_url"], track["gtm_public_id"]))
    else:
        print("<!-- GTM is not published for this tenant yet: `trackai provision --tenant ... --status` -->")
    return 0


def _serve_fakes() -> int:
    import time

    from trackai_cli.provision_fakes.server import ProvisionFakes

    with ProvisionFakes() as fakes:
        for name, value in fakes.environment().items():
            print(f"export {name}={json.dumps(value) if name.endswith('SERVICE_ACCOUNT') else value}")
        print("# the fakes run until Ctrl-C", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
