"""``trackai setup <tool> --tenant ID …``: the six setup tools (issue 16) with JSON out and a non-zero exit
when the step fails; ``trackai setup transcript --tenant ID`` reads the transcript of every call;
``trackai setup gate --tenant ID`` shows the test-event gate provisioning waits for (C1).

Exit codes: 0 the step passed (or passed with a warning), 1 it failed, 2 bad input (unknown tenant…).
"""

from __future__ import annotations

import argparse
import json
import sys

TOOL_OPTIONS = {
    "gateway": ("--gateway", "payment gateway: hotmart, kiwify, perfectpay or stripe"),
    "wait_seconds": ("--wait-seconds", "wait this long for the seller's test delivery"),
    "url": ("--url", "the landing page URL the ad opens"),
    "test_event_code": ("--test-event-code", "Meta Events Manager → Test events code (e.g. TEST12345)"),
    "platform": ("--platform", "hotmart, kiwify, perfectpay, stripe, html or wordpress"),
}


def register(sub: argparse._SubParsersAction) -> None:
    from trackai.core.setup_specs import TOOL_SPECS  # light: no I/O at import

    setup = sub.add_parser("setup", help="setup assistant: the six setup tools, transcript, gate")
    actions = setup.add_subparsers(dest="setup_action", metavar="ACTION")
    actions.required = True
    for name, spec in TOOL_SPECS.items():
        p = actions.add_parser(name, help=spec.description.split(":")[0][:80], description=spec.description)
        p.add_argument("--tenant", required=True, help="tenant id")
        for key, schema in spec.properties.items():
            option, text = TOOL_OPTIONS[key]
            kwargs: dict = {"dest": key, "help": text, "required": key in spec.required}
            if schema.get("enum"):
                kwargs["choices"] = schema["enum"]
            if schema.get("type") == "number":
                kwargs["type"] = float
            p.add_argument(option, **kwargs)
        p.add_argument(
            "--actor",
            choices=("operator", "seller", "agent"),
            default="operator",
            help="who is calling (transcript)",
        )
        p.set_defaults(handler=_run, tool=name)

    transcript = actions.add_parser("transcript", help="every setup tool call of a tenant, newest first")
    transcript.add_argument("--tenant", required=True, help="tenant id")
    transcript.add_argument("--tool", choices=tuple(TOOL_SPECS), default=None, help="only this step")
    transcript.add_argument("--limit", type=int, default=50)
    transcript.add_argument("--json", action="store_true", help="full entries as JSON lines")
    transcript.set_defaults(handler=_transcript)

    gate = actions.add_parser(
        "gate", help="the tenant's latest test-event gate pass (provisioning needs one)"
    )
    gate.add_argument("--tenant", required=True, help="tenant id")
    gate.set_defaults(handler=_gate)


def _run(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.settings import get_settings
    from trackai.setup.runner import TOOL_SPECS, run_tool
    from trackai.setup.tools import SetupInputError

    arguments = {"tenant_id": args.tenant}
    arguments.update({k: getattr(args, k) for k in TOOL_SPECS[args.tool].properties})
    with db.connect(db.database_url(announce=True)) as conn:
        try:
            out = run_tool(conn, get_settings(), args.tool, arguments, actor=args.actor, actor_label="cli")
        except SetupInputError as exc:
            print(json.dumps({"error": str(exc)}), file=sys.stderr)
            return 2
    print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
    return 1 if out["status"] == "fail" else 0


def _transcript(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.setup import transcript
    from trackai.setup.tools import SetupInputError, tenant_info

    with db.connect(db.database_url(announce=True)) as conn:
        try:
            tenant = tenant_info(conn, args.tenant)
        except SetupInputError as exc:
            print(json.dumps({"error": str(exc)}), file=sys.stderr)
            return 2
        rows = transcript.entries(conn, tenant.tenant_id, limit=args.limit, tool=args.tool)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
        else:
            when = row["created_at"].strftime("%Y-%m-%d %H:%M:%S")
            message = (row["outputs"].get("message") or {}).get("en", "")
            print(
                f"{when}  {row['actor']:<8} {row['tool']:<26} {row['status']:<4} {row['code']:<22} {message}"
            )
    return 0


def _gate(args: argparse.Namespace) -> int:
    from trackai import db
    from trackai.setup import gates

    with db.connect(db.database_url(announce=True)) as conn:
        found = gates.latest_pass(conn, args.tenant)
    if found is None:
        print(json.dumps({"tenant_id": args.tenant, "gate": "test_capi_event", "passed": False}))
        return 1
    print(
        json.dumps(
            {
                "tenant_id": found.tenant_id,
                "gate": found.gate,
                "passed": True,
                "event_id": found.event_id,
                "passed_at": found.passed_at.isoformat(),
                "actor": found.actor,
            }
        )
    )
    return 0
