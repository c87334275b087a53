"""``trackai privacy …``: LGPD data-subject requests, tenant privacy settings, test orders (docs/privacy.md).

    trackai privacy request --tenant T --email buyer@example.com export   # report + recipients
    trackai privacy request --tenant T --email buyer@example.com delete   # erase (asks unless --yes)
    trackai privacy request --tenant T --phone - export                   # the phone read from stdin
    trackai privacy list [--tenant T]                                     # the request log, deadlines
    trackai privacy settings --tenant T --consent-required on --block 203.0.113.0/24 --test-email me@x.com
    trackai privacy test-order --tenant T --gateway kiwify --order-id abc # never sent, never billed
    trackai privacy alarm | expire-quarantine                             # what Dagster runs, by hand

The email/phone is hashed at once (as ingest hashes it) and never stored nor logged; ``-`` reads it from
stdin so it stays out of the shell history and the process list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    privacy = sub.add_parser("privacy", help="LGPD: data-subject requests, consent, test orders")
    actions = privacy.add_subparsers(dest="privacy_command", metavar="ACTION")
    actions.required = True

    request = actions.add_parser("request", help="export or delete everything held about one buyer")
    request.add_argument("action", choices=("export", "delete"))
    request.add_argument("--tenant", required=True, help="tenant id")
    who = request.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the buyer's email ('-': read from stdin)")
    who.add_argument("--phone", help="the buyer's phone ('-': read from stdin)")
    request.add_argument("--out", default=None, help="report directory (default TRACKAI_PRIVACY_REPORT_DIR)")
    request.add_argument("--actor", default=None, help="who acts (default: the OS user)")
    request.add_argument("--yes", action="store_true", help="delete without asking")
    request.set_defaults(handler=_request)

    listing = actions.add_parser("list", help="the request log with deadlines and states (JSON)")
    listing.add_argument("--tenant", default=None)
    listing.set_defaults(handler=_list)

    reject = actions.add_parser(
        "reject", help="close a request without serving it (e.g. identity not proven)"
    )
    reject.add_argument("--request", type=int, required=True)
    reject.add_argument("--reason", required=True)
    reject.add_argument("--actor", default=None)
    reject.set_defaults(handler=_reject)

    settings = actions.add_parser("settings", help="show or change a tenant's privacy settings")
    settings.add_argument("--tenant", required=True)
    settings.add_argument("--consent-required", choices=("on", "off"), default=None)
    settings.add_argument("--block", action="append", default=[], help="a data-centre CIDR to flag as bots")
    settings.add_argument("--unblock", action="append", default=[])
    settings.add_argument("--test-email", action="append", default=[], help="a test buyer (stored hashed)")
    settings.add_argument("--test-phone", action="append", default=[], help="a test buyer (stored hashed)")
    settings.add_argument("--actor", default=None)
    settings.set_defaults(handler=_settings)

    test_order = actions.add_parser("test-order", help="mark an order as a test (never sent to Meta)")
    test_order.add_argument("--tenant", required=True)
    test_order.add_argument("--gateway", required=True)
    test_order.add_argument("--order-id", required=True)
    test_order.add_argument("--actor", default=None)
    test_order.set_defaults(handler=_test_order)

    alarm = actions.add_parser("alarm", help="alert (send_alert) for open requests near their deadline")
    alarm.set_defaults(handler=_alarm)
    expire = actions.add_parser("expire-quarantine", help="delete quarantined bodies past their retention")
    expire.set_defaults(handler=_expire)


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"


def _read(value: str | None) -> str | None:
    if value == "-":
        return sys.stdin.readline().strip()
    return value


def _request(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import requests
    from trackai.privacy.subjects import SubjectError

    email, phone = _read(args.email), _read(args.phone)
    if args.action == "delete" and not args.yes:
        if not sys.stdin.isatty():
            print("delete needs --yes when not run interactively", file=sys.stderr)
            return 2
        answer = input("Erase everything held about this buyer for this tenant? Type 'delete': ")
        if answer.strip() != "delete":
            print("nothing erased", file=sys.stderr)
            return 1
    try:
        with db.connect(db.database_url(announce=True)) as conn:
            served = requests.serve(
                conn,
                args.tenant,
                action=args.action,
                actor=_actor(args),
                email=email,
                phone=phone,
                out_dir=args.out,
            )
    except SubjectError as exc:
        print(f"privacy request refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(served.as_dict(), indent=2, default=str))
    return 0


def _list(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import requests

    with db.connect(db.database_url(announce=True)) as conn:
        rows = requests.list_requests(conn, args.tenant)
    print(json.dumps(rows, indent=2, default=str))
    return 0


def _reject(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import requests

    with db.connect(db.database_url(announce=True)) as conn:
        try:
            requests.reject(conn, args.request, _actor(args), args.reason)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    print(json.dumps({"request_id": args.request, "state": "rejected"}))
    return 0


def _settings(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import settings

    with db.connect(db.database_url(announce=True)) as conn:
        changes = (
            args.consent_required is not None
            or args.block
            or args.unblock
            or args.test_email
            or args.test_phone
        )
        try:
            result = (
                settings.update(
                    conn,
                    args.tenant,
                    actor=_actor(args),
                    consent_required=None if args.consent_required is None else args.consent_required == "on",
                    block=args.block,
                    unblock=args.unblock,
                    test_emails=args.test_email,
                    test_phones=args.test_phone,
                )
                if changes
                else settings.get(conn, args.tenant)
            )
        except ValueError as exc:
            print(f"settings refused: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


def _test_order(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import settings

    with db.connect(db.database_url(announce=True)) as conn:
        outcome = settings.mark_test_order(conn, args.tenant, args.gateway, args.order_id, _actor(args))
    print(json.dumps({"order_id": args.order_id, "outcome": outcome}))
    if outcome == "already_registered":
        print(
            "the order already has an event_id: if it was sent, Meta keeps it (it cannot be withdrawn)",
            file=sys.stderr,
        )
    return 0


def _alarm(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import requests

    with db.connect(db.database_url(announce=True)) as conn:
        result = requests.notify_due(conn)
    print(json.dumps(result, default=str))
    return 1 if result["due"] else 0


def _expire(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.privacy import retention

    with db.connect(db.database_url(announce=True)) as conn:
        print(json.dumps({"deleted": retention.expire_quarantine(conn)}))
    return 0
