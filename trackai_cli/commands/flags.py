"""``trackai flags list|enable|disable|clear``: per-tenant, per-gateway rollout flags (trackai.feature_flags).

A disabled gateway's webhooks get 403 ``gateway_disabled`` and land nothing; without ``--tenant`` the
flag is the default for every tenant (a tenant's own flag wins).
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    flags = sub.add_parser("flags", help="rollout flags: enable or disable a gateway per tenant")
    actions = flags.add_subparsers(dest="flags_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="print the flags as JSON (all, or those applying to --tenant)")
    listing.add_argument("--tenant", default=None, help="tenant id")
    listing.set_defaults(handler=_list)
    for name, enabled in (("enable", True), ("disable", False)):
        action = actions.add_parser(name, help=f"{name} a gateway for one tenant (--tenant) or by default")
        action.add_argument("gateway")
        action.add_argument("--tenant", default=None, help="tenant id (omit: the default for every tenant)")
        action.add_argument("--reason", default=None, help="why (kept with the flag, 200 characters)")
        action.add_argument(
            "--allow-unknown-gateway", action="store_true", help="a gateway whose adapter has not shipped yet"
        )
        action.set_defaults(handler=_set, enabled=enabled)
    clear = actions.add_parser("clear", help="remove a flag (the tenant follows the default again)")
    clear.add_argument("gateway")
    clear.add_argument("--tenant", default=None)
    clear.set_defaults(handler=_clear)


def _as_dict(flag) -> dict:
    return {
        "tenant_id": flag.tenant_id,
        "gateway": flag.gateway,
        "enabled": flag.enabled,
        "reason": flag.reason,
        "updated_by": flag.updated_by,
        "updated_at": flag.updated_at.isoformat(),
    }


def _list(args: argparse.Namespace) -> int:
    from trackai import db, feature_flags

    with db.connect(db.database_url(announce=True)) as conn:
        print(json.dumps([_as_dict(f) for f in feature_flags.list_flags(conn, args.tenant)], indent=2))
    return 0


def _set(args: argparse.Namespace) -> int:
    from trackai import db, feature_flags

    with db.connect(db.database_url(announce=True)) as conn:
        flag = feature_flags.set_flag(
            conn,
            args.gateway,
            args.enabled,
            tenant_id=args.tenant,
            reason=args.reason,
            allow_unknown_gateway=args.allow_unknown_gateway,
        )
    print(json.dumps(_as_dict(flag), indent=2))
    return 0


def _clear(args: argparse.Namespace) -> int:
    from trackai import db, feature_flags

    with db.connect(db.database_url(announce=True)) as conn:
        removed = feature_flags.clear_flag(conn, args.gateway, tenant_id=args.tenant)
    print(json.dumps({"removed": removed}))
    return 0 if removed else 1
