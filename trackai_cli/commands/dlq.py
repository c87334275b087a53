"""``trackai dlq list`` and ``trackai dlq replay [--tenant] [--event-id]... [--since] [--send]``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime


def _since(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(sub: argparse._SubParsersAction) -> None:
    dlq = sub.add_parser("dlq", help="dead-letter queue of CAPI events: list, replay")
    actions = dlq.add_subparsers(dest="dlq_command", metavar="ACTION")
    actions.required = True

    list_ = actions.add_parser("list", help="list DLQ events as JSON (newest first)")
    list_.add_argument("--tenant", default=None, help="tenant id")
    list_.add_argument("--since", type=_since, default=None, help="ISO time, e.g. 2026-03-01T00:00")
    list_.add_argument("--all", action="store_true", help="include already replayed events")
    list_.add_argument("--limit", type=int, default=100)
    list_.set_defaults(handler=_list)

    replay = actions.add_parser("replay", help="re-queue DLQ events (same event_id) for the next run")
    replay.add_argument("--tenant", default=None, help="tenant id")
    replay.add_argument("--event-id", action="append", default=[], help="repeatable; may name a sent event")
    replay.add_argument("--since", type=_since, default=None, help="only events dead-lettered since")
    replay.add_argument("--send", action="store_true", help="run a dispatch right away")
    replay.set_defaults(handler=_replay)


def _list(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.dispatch import list_dlq

    with db.connect(db.database_url(announce=True)) as conn:
        rows = list_dlq(
            conn, tenant_id=args.tenant, since=args.since, include_replayed=args.all, limit=args.limit
        )
    print(json.dumps(rows, indent=2, default=str))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.dispatch import replay, run_dispatch

    if not (args.tenant or args.event_id or args.since):
        print("trackai: replaying every DLQ event (no --tenant/--event-id/--since given)")
    with db.connect(db.database_url(announce=True)) as conn:
        result = replay(conn, tenant_id=args.tenant, event_ids=args.event_id or None, since=args.since)
        if args.send:
            result["dispatch"] = run_dispatch(conn, tenant_id=args.tenant)
    print(json.dumps(result, indent=2, default=str))
    return 0
