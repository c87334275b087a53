"""``trackai console [--host --port]``: the seller console (console/ app) under uvicorn;
``trackai console demo-users --tenant T...``: the demo's logins (development only).

The console connects as the role trackai_console (TRACKAI_CONSOLE_DATABASE_URL, else the main URL with
that user): it refuses to start as a superuser or a BYPASSRLS role. The access log stays off: invite
links carry their token in the path.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    console = sub.add_parser(
        "console", help="run the seller console (web app); demo-users for the demo logins"
    )
    console.add_argument("--host", default=None, help="default TRACKAI_CONSOLE_HOST (127.0.0.1)")
    console.add_argument("--port", type=int, default=None, help="default TRACKAI_CONSOLE_PORT (8090)")
    console.add_argument("--log-level", default="warning")
    console.set_defaults(handler=_serve)
    actions = console.add_subparsers(dest="console_command", metavar="ACTION")
    demo = actions.add_parser("demo-users", help="create (or reset) one seller per tenant and an operator")
    demo.add_argument("--tenant", action="append", required=True, help="tenant id (repeatable)")
    demo.set_defaults(handler=_demo_users)


def _serve(args: argparse.Namespace) -> int:
    import psycopg
    import uvicorn

    from console.db import console_database_url, refuse_privileged
    from trackai import db, migrations
    from trackai.settings import get_settings

    settings = get_settings()
    url = db.database_url(settings, announce=True)
    pending = migrations.pending_count(url, settings.sql_dir)
    if pending:
        raise RuntimeError(f"{pending} migration(s) pending: run `trackai db upgrade` first")
    with psycopg.connect(
        console_database_url(settings)
    ) as conn:  # one clear line instead of a failed startup
        refuse_privileged(conn)
    host, port = args.host or settings.console.host, args.port or settings.console.port
    print(f"trackai console: http://{host}:{port} (public URL {settings.console.public_url})")
    uvicorn.run(
        "console.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
    return 0


def _demo_users(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.console_data import users

    with db.connect(db.database_url(announce=True)) as conn:
        logins = users.ensure_demo_users(conn, args.tenant)
    print(json.dumps([login.__dict__ for login in logins], indent=2))
    return 0
