"""The setup assistant's step of `make demo` (issue 16): for each demo tenant, after its traffic, the
webhook check of every gateway, the snippet and a test event sent to the Graph API fake with a test code —
which records the gate provisioning waits for (C1). Returns the lines the demo prints."""

from __future__ import annotations

from trackai import db
from trackai.settings import get_settings
from trackai.setup.runner import run_tool


def run_setup_demo(url: str, tenants: list[dict]) -> list[str]:
    settings = get_settings()
    lines = []
    with db.connect(url) as conn:
        for spec in tenants:
            tenant = spec["tenant_id"]
            answers = []
            calls = [("validate_meta_token", {})]
            calls += [("validate_gateway_webhook", {"gateway": g}) for g in spec["gateway_secrets"]]
            calls += [
                ("generate_tracking_snippet", {"platform": "html"}),
                ("send_test_capi_event", {"test_event_code": "TEST" + tenant[-5:].upper().replace("-", "")}),
            ]
            for tool, arguments in calls:
                out = run_tool(
                    conn,
                    settings,
                    tool,
                    {"tenant_id": tenant, **arguments},
                    actor="operator",
                    actor_label="demo",
                )
                label = tool + (f"[{arguments['gateway']}]" if "gateway" in arguments else "")
                answers.append(f"{label} {out['status']}/{out['code']}")
            lines.append(f"{spec['name'][:22]:22} " + ", ".join(answers))
    lines.append(
        "transcript: `trackai setup transcript --tenant <id>`; gate: `trackai setup gate --tenant <id>`"
    )
    return lines
