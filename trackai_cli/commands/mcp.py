"""``trackai mcp``: the six setup tools as an MCP server over stdio (issue 16; trackai_cli/mcp_server.py)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="serve the setup tools to an AI agent over MCP (stdio)",
        description="Every call is recorded in the setup transcript with actor 'agent'.",
    )
    mcp.add_argument("--agent-name", default="mcp", help="label of the agent in the transcript")
    mcp.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import anyio

    from trackai import db
    from trackai_cli.mcp_server import build_server, serve_stdio

    server = build_server(database_url=db.database_url(announce=True), actor_label=args.agent_name)
    anyio.run(serve_stdio, server)
    return 0
