"""``trackai snippet --tenant ID [--platform hotmart|kiwify|perfectpay|stripe]``: print the tracking tag."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    snippet = sub.add_parser("snippet", help="print the landing-page tracking snippet for a tenant")
    snippet.add_argument("--tenant", required=True, help="tenant id")
    snippet.add_argument("--platform", choices=("hotmart", "kiwify", "perfectpay", "stripe"), default=None)
    snippet.add_argument(
        "--inline", action="store_true", help="print the whole script inline instead of a <script src> tag"
    )
    snippet.set_defaults(handler=_snippet)


def _snippet(args: argparse.Namespace) -> int:
    import uuid

    from trackai.core.snippet import render_snippet
    from trackai.settings import get_settings

    tenant = str(uuid.UUID(args.tenant))
    base = get_settings().public_base_url.rstrip("/")
    if args.inline:
        print(f"<script>\n{render_snippet(tenant, base, args.platform)}</script>")
    else:
        query = f"?platform={args.platform}" if args.platform else ""
        print(f'<script async src="{base}/api/v1/snippet/{tenant}.js{query}"></script>')
    return 0
