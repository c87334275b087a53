"""``trackai serve --host --port [--workers]``: the FastAPI ingest service under uvicorn.

Before forking workers it checks what can be checked once: ``TRACKAI_ENV`` set explicitly when a real
database is configured, and in production a least-privilege database role (ingest_service.core.privileges).
uvicorn runs the guarded httptools protocol (request-head size, head and body deadlines) and closes idle
keep-alive connections after 5 s; /metrics is on the internal listener, not on ``--port``.
"""

from __future__ import annotations

import argparse

GUARDED_PROTOCOL = "ingest_service.core.http_guard:GuardedHttpToolsProtocol"


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the ingest service (webhooks, clicks, snippet)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (rate limits are shared)"
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn access/error log level")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ingest_service.core import privileges
    from trackai import db
    from trackai.settings import require_explicit_env

    settings = require_explicit_env()
    # Fail fast (and start the embedded database) before forking workers.
    privileges.check(db.ingest_database_url(settings), settings)
    uvicorn.run(
        "ingest_service.main:create_served_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured by the app only from TRACKAI_TRUSTED_PROXIES
        http=GUARDED_PROTOCOL,
        timeout_keep_alive=5,
    )
    return 0
