"""``trackai archive query|partitions|retain|list|backfill`` (docs/scaling.md, "History").

``query`` runs DuckDB SQL over the Parquet archive on the object store; the views ``clicks``,
``identities``, ``conversions`` and ``dispatch_attempts`` read every archived day (column ``day``).
"""

from __future__ import annotations

import argparse
import json
from datetime import date


def register(sub: argparse._SubParsersAction) -> None:
    archive = sub.add_parser("archive", help="daily partitions and the Parquet archive (DuckDB over S3)")
    actions = archive.add_subparsers(dest="archive_command", metavar="ACTION")
    actions.required = True
    query = actions.add_parser(
        "query", help='DuckDB SQL over archived days, e.g. "SELECT day, count(*) FROM clicks GROUP BY 1"'
    )
    query.add_argument("sql")
    query.add_argument("--json", action="store_true", help="one JSON object per row")
    query.set_defaults(handler=_query)
    parts = actions.add_parser(
        "partitions", help="create daily partitions ahead (and split DEFAULT); list them"
    )
    parts.add_argument(
        "--ahead", type=int, help="days ahead (default TRACKAI_LIFECYCLE_PARTITIONS_AHEAD_DAYS)"
    )
    parts.set_defaults(handler=_partitions)
    retain = actions.add_parser("retain", help="archive, verify and drop the days past the hot window")
    retain.add_argument("--today", type=date.fromisoformat, help="pretend today is this day (UTC)")
    retain.set_defaults(handler=_retain)
    actions.add_parser("list", help="archived days and their verification").set_defaults(handler=_list)
    backfill = actions.add_parser("backfill", help="recompute an archived day from the archive (owner URL)")
    backfill.add_argument("--day", type=date.fromisoformat, required=True)
    backfill.set_defaults(handler=_backfill)


def _url() -> str:
    from trackai import db

    return db.database_url(announce=True)


def _query(args: argparse.Namespace) -> int:
    from trackai.lifecycle import archive

    names, rows = archive.query(args.sql)
    if args.json:
        for row in rows:
            print(json.dumps(dict(zip(names, row, strict=True)), default=str))
        return 0
    print("\t".join(names))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _partitions(args: argparse.Namespace) -> int:
    import psycopg

    from trackai.lifecycle import partitions
    from trackai.settings import get_settings

    ahead = args.ahead or get_settings().lifecycle.partitions_ahead_days
    with psycopg.connect(_url(), autocommit=True) as conn:
        created = partitions.ensure_ahead(conn, ahead)
        listing = partitions.listing(conn)
    counts: dict[str, int] = {}
    for p in listing:
        counts[p.parent] = counts.get(p.parent, 0) + 1
    print(json.dumps({"created": created, "partitions": counts}, indent=1))
    return 0


def _retain(args: argparse.Namespace) -> int:
    import psycopg

    from trackai.lifecycle import archive, partitions
    from trackai.settings import get_settings

    url = _url()
    with psycopg.connect(url, autocommit=True) as conn:
        partitions.ensure_ahead(conn, get_settings().lifecycle.partitions_ahead_days, args.today)
    report = archive.retain(url, today=args.today)
    print(json.dumps(report.as_dict(), indent=1))
    return 1 if report.failed else 0


def _list(args: argparse.Namespace) -> int:
    import psycopg

    with psycopg.connect(_url()) as conn:
        rows = conn.execute(
            "SELECT parent, day, row_count, bytes, verified_at, dropped_at, verify_error "
            "FROM lifecycle.archived_partitions ORDER BY day, parent"
        ).fetchall()
    keys = ("parent", "day", "rows", "bytes", "verified_at", "dropped_at", "verify_error")
    for row in rows:
        print(json.dumps(dict(zip(keys, row, strict=True)), default=str))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from trackai.lifecycle import backfill

    print(json.dumps(backfill.backfill_archived_day(_url(), args.day).as_dict(), indent=1, default=str))
    return 0
