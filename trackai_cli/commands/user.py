"""``trackai user create|invite|reset|list|disable|enable``: logins of the seller console.

A seller belongs to one tenant (``--tenant``); an operator (``--role operator``) sees every tenant. Without
``--password-stdin`` a new user gets an invite link (printed; send it to them) that sets the password in
the console. ``reset`` removes the password, ends every session and prints a new link. Passwords are never
taken from argv (``ps`` and shell history would show them).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="console logins: create, invite, reset, list, disable, enable")
    actions = user.add_subparsers(dest="user_command", metavar="ACTION")
    actions.required = True

    create = actions.add_parser("create", help="create a user and print the invite link")
    create.add_argument("--email", required=True)
    create.add_argument("--tenant", default=None, help="tenant id (sellers)")
    create.add_argument("--role", choices=("seller", "operator"), default="seller")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin instead of inviting"
    )
    create.set_defaults(handler=_create)

    for name, help_text in (
        ("invite", "print a new invite link (the password is kept)"),
        ("reset", "remove the password, end every session, print the link that sets a new one"),
        ("disable", "refuse the user's logins and end their sessions"),
        ("enable", "allow the user's logins again"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--email", required=True)
        action.set_defaults(handler=_manage, user_command=name)

    list_ = actions.add_parser("list", help="list users as JSON")
    list_.add_argument("--tenant", default=None)
    list_.set_defaults(handler=_list)


def _password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\n")


def _print_invite(invite) -> None:
    print(
        json.dumps(
            {"email": invite.email, "invite_url": invite.url, "expires_at": invite.expires_at.isoformat()}
        )
    )


def _create(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.console_data import users

    password = _password() if args.password_stdin else None
    with db.connect(db.database_url(announce=True)) as conn:
        invite = users.create_user(
            conn, email=args.email, role=args.role, tenant_id=args.tenant, password=password
        )
    if invite is None:
        print(json.dumps({"email": args.email.strip().lower(), "created": True}))
    else:
        _print_invite(invite)
    return 0


def _manage(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.console_data import users

    with db.connect(db.database_url(announce=True)) as conn:
        if args.user_command == "invite":
            _print_invite(users.invite(conn, args.email))
        elif args.user_command == "reset":
            _print_invite(users.reset(conn, args.email))
        else:
            users.set_active(conn, args.email, args.user_command == "enable")
            print(json.dumps({"email": args.email.strip().lower(), "active": args.user_command == "enable"}))
    return 0


def _list(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.console_data import users

    with db.connect(db.database_url(announce=True)) as conn:
        rows = users.list_users(conn, args.tenant)
    print(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
    return 0
