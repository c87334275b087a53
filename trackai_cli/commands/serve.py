"""``trackai serve --host --port [--workers]``: the FastAPI ingest service under uvicorn."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the ingest service (webhooks, clicks, snippet, metrics)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (rate limits are shared)"
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn access/error log level")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from trackai import db

    db.ingest_database_url()  # fail fast (and start the embedded database) before forking workers
    uvicorn.run(
        "ingest_service.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is honoured by the app only from TRACKAI_TRUSTED_PROXIES
    )
    return 0
