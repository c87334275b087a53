"""``trackai tenant create|list|set-secret``.

Secrets never appear on the command line (``ps`` and shell history would show them): each one is read
from standard input (``-``; a terminal gets a no-echo prompt), a file, or a named environment variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

_LITERAL_REFUSED = (
    "{option} takes '-' (read the secret from standard input), not the secret itself: a secret on the "
    "command line is visible in ps and shell history; or use {option}-file / {option}-env"
)


class SecretSourceError(ValueError):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    tenant = sub.add_parser("tenant", help="sellers: create, list, rotate secrets")
    actions = tenant.add_subparsers(dest="tenant_command", metavar="ACTION")
    actions.required = True

    create = actions.add_parser(
        "create",
        help="create a tenant and print its webhook URLs as JSON",
        description="Secrets are read from stdin ('-'), a file or an environment variable, never argv.",
    )
    create.add_argument("--name", required=True)
    create.add_argument("--pixel-id", required=True, help="Meta pixel (dataset) id")
    _secret_options(create, "--meta-token", "CAPI access token (stored encrypted)", required=True)
    for suffix, meta, what in (
        ("", "GATEWAY=-", "read from standard input"),
        ("-file", "GATEWAY=PATH", "read from a file"),
        ("-env", "GATEWAY=NAME", "read from an environment variable"),
    ):
        create.add_argument(
            f"--gateway-secret{suffix}",
            action="append",
            default=[],
            metavar=meta,
            help=f"perfectpay/hotmart token, kiwify webhook token or stripe whsec_…, {what} (repeatable)",
        )
    create.add_argument("--test-event-code", default=None)
    create.set_defaults(handler=_create)

    actions.add_parser("list", help="list tenants as JSON").set_defaults(handler=_list)

    set_secret = actions.add_parser(
        "set-secret",
        help="set or rotate a gateway secret or the Meta token",
        description="The secret is read from stdin ('--secret -'), a file or an environment variable.",
    )
    set_secret.add_argument("--tenant", required=True, help="tenant id")
    set_secret.add_argument("--kind", required=True, help="meta_token, perfectpay, hotmart, kiwify or stripe")
    _secret_options(set_secret, "--secret", "the secret", required=True)
    set_secret.set_defaults(handler=_set_secret)


def _secret_options(parser: argparse.ArgumentParser, option: str, what: str, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(option, metavar="-", help=f"{what}, read from standard input")
    group.add_argument(f"{option}-file", metavar="PATH", help=f"{what}, read from a file")
    group.add_argument(f"{option}-env", metavar="NAME", help=f"{what}, read from an environment variable")


def _from_stdin(label: str) -> str:
    if sys.stdin is None:
        raise SecretSourceError(f"{label}: no standard input to read the secret from")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"{label}: ")
    return sys.stdin.read()


def _read(
    option: str,
    label: str | None = None,
    *,
    stdin: str | None = None,
    file: str | None = None,
    env: str | None = None,
) -> str:
    """The secret from exactly one source, surrounding whitespace (a trailing newline) removed."""
    label = label or option
    if stdin is not None:
        if stdin != "-":
            raise SecretSourceError(_LITERAL_REFUSED.format(option=option))
        value = _from_stdin(label)
    elif file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretSourceError(f"{label}: cannot read {file} ({exc.__class__.__name__})") from exc
    elif env is not None:
        if env not in os.environ:
            raise SecretSourceError(f"{label}: environment variable {env} is not set")
        value = os.environ[env]
    else:
        raise SecretSourceError(f"{option}: give '-', {option}-file or {option}-env")
    value = value.strip()
    if not value:
        raise SecretSourceError(f"{label}: the secret read is empty")
    return value


def _gateway_secrets(args: argparse.Namespace, stdin_taken: bool) -> dict[str, str]:
    from trackai import tenants

    found: dict[str, str] = {}
    for suffix, key in (("", "stdin"), ("-file", "file"), ("-env", "env")):
        option = f"--gateway-secret{suffix}"
        for assignment in getattr(args, f"gateway_secret{suffix.replace('-', '_')}"):
            gateway, source = tenants.parse_gateway_secret(assignment, option=option)
            if gateway in found:
                raise SecretSourceError(f"{option}: {gateway} given twice")
            if key == "stdin":
                if source != "-":
                    raise SecretSourceError(_LITERAL_REFUSED.format(option=option))
                if stdin_taken:
                    raise SecretSourceError(f"{option}: only one secret can be read from standard input")
                stdin_taken = True
            found[gateway] = _read("--gateway-secret", f"{option} {gateway}", **{key: source})
    return found


def _create(args: argparse.Namespace) -> int:
    from trackai import db, tenants

    meta_token = _read(
        "--meta-token", stdin=args.meta_token, file=args.meta_token_file, env=args.meta_token_env
    )
    gateway_secrets = _gateway_secrets(args, stdin_taken=args.meta_token is not None)
    with db.connect(db.database_url(announce=True)) as conn:
        tenant_id = tenants.create_tenant(
            conn,
            name=args.name,
            pixel_id=args.pixel_id,
            meta_token=meta_token,
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

    secret = _read("--secret", stdin=args.secret, file=args.secret_file, env=args.secret_env)
    with db.connect(db.database_url(announce=True)) as conn:
        tenants.set_secret(conn, args.tenant, args.kind.lower(), secret)
    print(json.dumps({"tenant_id": args.tenant, "kind": args.kind.lower(), "status": "stored"}))
    return 0
