"""The one entry point of the setup tools for every surface (CLI, console wizard, MCP server): check the
inputs against the tool's JSON schema, run the tool, write the transcript, advance the failure streak and
open or close the support case.

``TOOL_SPECS`` is what the MCP server lists (name, description, input JSON schema) and what the CLI builds
its options from, so the three surfaces cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from trackai.core import setup_result as sr
from trackai.core.setup_specs import TOOL_SPECS
from trackai.settings import Settings
from trackai.setup import support, tools, transcript
from trackai.setup.tools import SetupContext, SetupInputError

FUNCS: dict[str, Callable[..., sr.ToolResult]] = {
    "validate_meta_token": tools.validate_meta_token,
    "validate_gateway_webhook": tools.validate_gateway_webhook,
    "probe_landing_url": tools.probe_landing_url,
    "check_pixel_presence": tools.check_pixel_presence,
    "send_test_capi_event": tools.send_test_capi_event,
    "generate_tracking_snippet": tools.generate_tracking_snippet,
}


def check_inputs(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool's keyword arguments (without tenant_id), or SetupInputError naming what is wrong."""
    spec = TOOL_SPECS.get(tool)
    if spec is None:
        raise SetupInputError(f"unknown tool {tool!r}; expected one of {', '.join(TOOL_SPECS)}")
    args = {k: v for k, v in arguments.items() if v is not None}
    unknown = set(args) - set(spec.properties) - {"tenant_id"}
    if unknown:
        raise SetupInputError(f"{tool}: unknown argument(s) {', '.join(sorted(unknown))}")
    missing = [k for k in ("tenant_id", *spec.required) if k not in args]
    if missing:
        raise SetupInputError(f"{tool}: missing argument(s) {', '.join(missing)}")
    for key, schema in spec.properties.items():
        if key not in args:
            continue
        value = args[key]
        if schema.get("type") == "number":
            try:
                value = args[key] = float(value)
            except (TypeError, ValueError) as exc:
                raise SetupInputError(f"{tool}: {key} must be a number") from exc
            if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
                raise SetupInputError(f"{tool}: {key} out of range")
        elif not isinstance(value, str):
            raise SetupInputError(f"{tool}: {key} must be a string")
    args.pop("tenant_id")
    return args


def run_tool(
    conn: psycopg.Connection,
    settings: Settings,
    tool: str,
    arguments: dict[str, Any],
    *,
    actor: str,
    actor_label: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Run one tool for ``arguments['tenant_id']`` and record it; returns the result with the transcript
    entry id and any support case opened or closed by this call."""
    if actor not in transcript.ACTORS:
        raise SetupInputError(f"actor must be one of {', '.join(transcript.ACTORS)}")
    kwargs = check_inputs(tool, arguments)
    tenant = tools.tenant_info(conn, str(arguments.get("tenant_id")))
    ctx = SetupContext(conn, settings, transport=transport, actor=actor)
    started = time.perf_counter()
    result = FUNCS[tool](ctx, tenant.tenant_id, **kwargs)
    duration = int((time.perf_counter() - started) * 1000)
    entry_id = transcript.record(
        conn,
        tenant.tenant_id,
        result,
        actor=actor,
        actor_label=actor_label,
        inputs={"tenant_id": tenant.tenant_id, **kwargs},
        duration_ms=duration,
    )
    change = support.after_result(conn, settings, tenant.tenant_id, result)
    out = result.to_dict()
    out["transcript_entry_id"] = entry_id
    out["consecutive_failures"] = change.failures
    out["support_case"] = None
    if change.opened_case_id is not None:
        out["support_case"] = {"case_id": change.opened_case_id, "opened": True, "notified": change.notified}
    elif change.closed_case_id is not None:
        out["support_case"] = {"case_id": change.closed_case_id, "closed": True}
    else:
        case = support.open_case(conn, tenant.tenant_id, tool)
        if case:
            out["support_case"] = {"case_id": case["case_id"], "open": True}
    return out
