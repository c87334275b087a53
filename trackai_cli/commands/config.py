"""``trackai config env-example``: print .env.example, generated from the Settings classes."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("config", help="configuration: the variables the project reads")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    example = actions.add_parser("env-example", help="print .env.example (every TRACKAI_* variable)")
    example.set_defaults(handler=_env_example)


def _env_example(_args: argparse.Namespace) -> int:
    from trackai.settings import env_example

    print(env_example(), end="")
    return 0
