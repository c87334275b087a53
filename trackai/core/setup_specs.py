"""The setup tools' names, descriptions and input JSON schemas (issue 16): what the MCP server lists and what
the CLI builds its options from, so the surfaces cannot drift apart. Pure and light (``trackai --help``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trackai.core.setup_snippet import PLATFORMS
from trackai.core.setup_webhook import GATEWAY_NAMES

_TENANT = {"type": "string", "format": "uuid", "description": "The seller's tenant id."}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]

    @property
    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"tenant_id": _TENANT, **self.properties},
            "required": ["tenant_id", *self.required],
            "additionalProperties": False,
        }


TOOL_SPECS: dict[str, ToolSpec] = {
    s.name: s
    for s in (
        ToolSpec(
            "validate_meta_token",
            "Check the tenant's stored Meta token with Graph API debug_token and a read of its pixel: validity, "
            "expiry, scopes, whether it can send events to this pixel; says how to create a system-user token.",
            {},
            (),
        ),
        ToolSpec(
            "validate_gateway_webhook",
            "What this tenant's webhook endpoint received from one gateway lately: verified deliveries, refusals "
            "by reason, quarantined bodies, and exactly what to change in that gateway's panel. Can wait for a "
            "test delivery.",
            {
                "gateway": {
                    "type": "string",
                    "enum": list(GATEWAY_NAMES),
                    "description": "The payment gateway.",
                },
                "wait_seconds": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 900,
                    "description": "Wait this long for the seller's test delivery (0: answer now).",
                },
            },
            ("gateway",),
        ),
        ToolSpec(
            "probe_landing_url",
            "Follow the ad's landing URL redirect by redirect: status, TLS validity, time, and whether fbclid and "
            "the UTM/src parameters survive every hop.",
            {"url": {"type": "string", "format": "uri", "description": "The URL the ad opens."}},
            ("url",),
        ),
        ToolSpec(
            "check_pixel_presence",
            "Fetch the page: fbq('init') with this tenant's pixel id, the Track AI snippet with this tenant's id, "
            "duplicate or foreign pixels, a pixel only in <noscript>.",
            {"url": {"type": "string", "format": "uri", "description": "The landing page to inspect."}},
            ("url",),
        ),
        ToolSpec(
            "send_test_capi_event",
            "Send a test Purchase through the real dispatch path with Meta's test_event_code; passes only when "
            "Meta answers events_received >= 1 (recorded as the gate before GTM is published).",
            {
                "test_event_code": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-]{1,64}$",
                    "description": "Events Manager → Test events code (e.g. TEST12345); default: the tenant's.",
                }
            },
            (),
        ),
        ToolSpec(
            "generate_tracking_snippet",
            "The tracking snippet for a platform, with where to paste it.",
            {
                "platform": {
                    "type": "string",
                    "enum": list(PLATFORMS),
                    "description": "Checkout or site platform.",
                }
            },
            (),
        ),
    )
}
