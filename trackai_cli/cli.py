"""``trackai`` console script: a thin argparse shell over the command modules in trackai_cli/commands.

Each command module exposes ``register(subparsers)`` and keeps heavy imports inside its handlers,
so ``trackai --help`` stays fast. Errors are one line on stderr with a non-zero exit, never a
traceback (set TRACKAI_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from trackai import __version__

COMMAND_MODULES = (
    "trackai_cli.commands.config",
    "trackai_cli.commands.db",
    "trackai_cli.commands.tenant",
    "trackai_cli.commands.serve",
    "trackai_cli.commands.snippet",
    "trackai_cli.commands.demo",
    "trackai_cli.commands.capi_mock",
    "trackai_cli.commands.dlq",
    "trackai_cli.commands.dbt",
    "trackai_cli.commands.pipeline",
    "trackai_cli.commands.flags",
    "trackai_cli.commands.ops_exporter",
    "trackai_cli.commands.dev",
    "trackai_cli.commands.console",
    "trackai_cli.commands.user",
    "trackai_cli.commands.backup",
    "trackai_cli.commands.archive",
    "trackai_cli.commands.setup",  # setup assistant (issue 16)
    "trackai_cli.commands.mcp",  # the setup tools over MCP (issue 16)
    "trackai_cli.commands.privacy",
    "trackai_cli.commands.provision",  # provisioning (issue 17)
    "trackai_cli.commands.billing",
)


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="trackai", description="Track AI: server-side conversion tracking.")
    parser.add_argument("--version", action="version", version=f"trackai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from trackai.observability import configure_json_logging, init_sentry
    from trackai.settings import get_settings

    configure_json_logging("trackai")
    settings = get_settings()
    sentry_on = init_sentry(f"cli:{args.command}", dsn=settings.sentry_dsn, environment=settings.env)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        print("trackai: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if sentry_on:
            import sentry_sdk

            sentry_sdk.capture_exception(exc)
            sentry_sdk.flush(2)
        if settings.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ in ("UndefinedTable", "InvalidSchemaName"):  # psycopg.errors, not imported here
            message += " (is the database migrated? run `trackai db upgrade`)"
        print(f"trackai: error: {message}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
