"""``trackai db upgrade|status|url|stop|restore-drill``."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database: migrations, status, embedded server")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True
    actions.add_parser("upgrade", help="apply pending migrations from sql/").set_defaults(handler=_upgrade)
    actions.add_parser("status", help="list applied and pending migrations").set_defaults(handler=_status)
    actions.add_parser("url", help="print the application database URL").set_defaults(handler=_url)
    actions.add_parser("stop", help="stop the embedded Postgres if it runs").set_defaults(handler=_stop)
    from trackai_cli.commands.backup import add_drill_parser

    add_drill_parser(actions)  # `trackai db restore-drill` = `trackai backup restore-drill`


def _upgrade(args: argparse.Namespace) -> int:
    from trackai import db, migrations
    from trackai.settings import get_settings

    url = db.database_url(announce=True)
    applied = migrations.upgrade(url, get_settings().sql_dir)
    if not applied:
        print("database is up to date (nothing to apply)")
    for m in applied:
        print(f"applied {m.filename}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from trackai import db, migrations
    from trackai.settings import get_settings

    rows = migrations.status(db.database_url(announce=True), get_settings().sql_dir)
    for row in rows:
        print(f"{row.state:8} {row.migration.filename}  {row.applied_at or ''}".rstrip())
    pending = sum(r.applied_at is None for r in rows)
    edited = sum(r.edited for r in rows)
    print(
        f"{len(rows) - pending} applied, {pending} pending"
        + (f", {edited} EDITED after apply" if edited else "")
    )
    return 1 if edited else 0


def _url(args: argparse.Namespace) -> int:
    from trackai import db

    print(json.dumps({"database_url": db.database_url(), "dagster_database_url": db.dagster_database_url()}))
    return 0


def _stop(args: argparse.Namespace) -> int:
    from trackai import embedded_pg
    from trackai.settings import get_settings

    stopped = embedded_pg.stop(get_settings().data_dir)
    print("embedded Postgres stopped" if stopped else "embedded Postgres was not running")
    return 0
