"""``trackai dbt prepare|build|docs``: the dbt project in dbt/ against trackai's database."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    dbt = sub.add_parser("dbt", help="analytics models: prepare the manifest, build, docs")
    actions = dbt.add_subparsers(dest="dbt_command", metavar="ACTION")
    actions.required = True

    actions.add_parser(
        "prepare",
        help="write the dbt files generated from Python (EMQ macro), then dbt parse -> dbt/target/manifest.json"
        " (no database needed)",
    ).set_defaults(handler=_prepare)
    build = actions.add_parser("build", help="dbt build (models + tests) against the database")
    build.add_argument("--select", default=None, help="dbt selection, e.g. analytics_metrics_daily")
    build.add_argument("--min-date", default=None, help="partition window start (YYYY-MM-DD)")
    build.add_argument("--max-date", default=None, help="partition window end, exclusive (YYYY-MM-DD)")
    build.set_defaults(handler=_build)

    docs = actions.add_parser("docs", help="dbt docs generate; --serve also serves them on --port")
    docs.add_argument("--serve", action="store_true")
    docs.add_argument("--port", type=int, default=8081)
    docs.set_defaults(handler=_docs)


def _prepare(args: argparse.Namespace) -> int:
    from dagster_project.lib import dbt_runner

    print(dbt_runner.prepare())
    return 0


def _build(args: argparse.Namespace) -> int:
    from dagster_project.lib import dbt_runner
    from dagster_project.lib.dbt_vars import partition_vars
    from trackai import db

    variables = partition_vars(args.min_date, args.max_date) if args.min_date and args.max_date else None
    dbt_runner.build(db.database_url(announce=True), select=args.select, variables=variables)
    return 0


def _docs(args: argparse.Namespace) -> int:
    from dagster_project.lib import dbt_runner
    from trackai import db

    url = db.database_url(announce=True)
    print(dbt_runner.docs(url))
    if args.serve:
        dbt_runner.run_dbt(["docs", "serve", "--port", str(args.port), "--no-browser"], url)
    return 0
