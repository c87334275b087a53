"""``trackai tenant create|list|set-secret``."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    tenant = sub.add_parser("tenant", help="sellers: create, list, rotate secrets")
    actions = tenant.add_subparsers(dest="tenant_command", metavar="ACTION")
    actions.required = True

    create = actions.add_parser("create", help="create a tenant and print its webhook URLs as JSON")
    create.add_argument("--name", required=True)
    create.add_argument("--pixel-id", required=True, help="Meta pixel (dataset) id")
    create.add_argument("--meta-token", required=True, help="CAPI access token (stored encrypted)")
    create.add_argument(
        "--gateway-secret",
        action="append",
        default=[],
        metavar="GATEWAY=SECRET",
        help="perfectpay/hotmart token, kiwify webhook token or stripe whsec_… (repeatable)",
    )
    create.add_argument("--test-event-code", default=None)
    create.set_defaults(handler=_create)

    actions.add_parser("list", help="list tenants as JSON").set_defaults(handler=_list)

    set_secret = actions.add_parser("set-secret", help="set or rotate a gateway secret or the Meta token")
    set_secret.add_argument("--tenant", required=True, help="tenant id")
    set_secret.add_argument("--kind", required=True, help="meta_token, perfectpay, hotmart, kiwify or stripe")
    set_secret.add_argument("--secret", required=True)
    set_secret.set_defaults(handler=_set_secret)


def _create(args: argparse.Namespace) -> int:
    from trackai import db, tenants

    gateway_secrets = dict(tenants.parse_gateway_secret(a) for a in args.gateway_secret)
    with db.connect(db.database_url(announce=True)) as conn:
        tenant_id = tenants.create_tenant(
            conn,
            name=args.name,
            pixel_id=args.pixel_id,
            meta_token=args.meta_token,
            gateway_secrets=gateway_secrets,
            test_event_code=args.test_event_code,
        )
        created = next(t for t in tenants.list_tenants(conn) if t.tenant_id == tenant_id)
    print(json.dumps(tenants.describe_tenant(created), indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    from trackai import db, tenants

    with db.connect(db.database_url(announce=True)) as conn:
        print(json.dumps([tenants.describe_tenant(t) for t in tenants.list_tenants(conn)], indent=2))
    return 0


def _set_secret(args: argparse.Namespace) -> int:
    from trackai import db, tenants

    with db.connect(db.database_url(announce=True)) as conn:
        tenants.set_secret(conn, args.tenant, args.kind.lower(), args.secret)
    print(json.dumps({"tenant_id": args.tenant, "kind": args.kind.lower(), "status": "stored"}))
    return 0
