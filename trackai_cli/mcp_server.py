"""The setup tools as an MCP server (issue 16), built on the official ``mcp`` Python SDK's low-level
``Server`` so each tool's JSON schema is exactly ``trackai.setup.runner.TOOL_SPECS``: an LLM agent lists the
six tools and calls them; every call goes through ``run_tool`` with actor ``agent``, so it lands in the same
transcript (and failure streak, and support case) as the CLI's and the console wizard's.

``trackai mcp`` serves it over stdio (how MCP clients launch local servers).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server

from trackai import __version__, db
from trackai.settings import Settings, get_settings
from trackai.setup.runner import TOOL_SPECS, run_tool
from trackai.setup.tools import SetupInputError

INSTRUCTIONS = (
    "Track AI setup assistant. Onboard a seller step by step: validate_meta_token, "
    "validate_gateway_webhook (per gateway), probe_landing_url, check_pixel_presence, "
    "generate_tracking_snippet, then send_test_capi_event (needs a test_event_code from Events Manager). "
    "Every answer has status (pass/warn/fail), a specific code, what was observed and next_action in pt-BR "
    "and English: relay next_action to the seller verbatim. Three consecutive failures of a step open a "
    "support case (support_case in the answer): then tell the seller a person will contact them."
)


def call(
    name: str, arguments: dict[str, Any], *, settings: Settings, database_url: str, actor_label: str | None
) -> dict[str, Any]:
    with db.connect(database_url) as conn:
        return run_tool(conn, settings, name, arguments, actor="agent", actor_label=actor_label)


def build_server(
    settings: Settings | None = None, database_url: str | None = None, actor_label: str | None = "mcp"
) -> Server:
    settings = settings or get_settings()
    url = database_url or db.database_url(settings)

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=s.name, description=s.description, input_schema=s.input_schema)
                for s in TOOL_SPECS.values()
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        try:
            out = await anyio.to_thread.run_sync(
                lambda: call(
                    params.name, arguments, settings=settings, database_url=url, actor_label=actor_label
                )
            )
        except SetupInputError as exc:
            error = {"error": str(exc)}
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=json.dumps(error))],
                structured_content=error,
                is_error=True,
            )
        text = json.dumps(out, ensure_ascii=False, default=str)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=json.loads(text),
            is_error=out["status"] == "fail",
        )

    return Server(
        "trackai-setup",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(server: Server) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
