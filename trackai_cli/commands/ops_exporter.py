"""``trackai ops-exporter --host --port``: dispatch-side Prometheus metrics read from Postgres.

One per deployment (its counters are global, not per replica); Prometheus scrapes it beside the ingest
replicas (deploy/prometheus/prometheus.yml). It connects as ``trackai_metrics``
(TRACKAI_METRICS_DATABASE_URL; the main URL in development when unset). See trackai/ops_metrics.py.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    exporter = sub.add_parser(
        "ops-exporter", help="serve dispatch/backlog/DLQ/breaker metrics for Prometheus"
    )
    exporter.add_argument("--host", default="127.0.0.1")
    exporter.add_argument("--port", type=int, default=9480)
    exporter.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading

    from prometheus_client import CollectorRegistry, start_http_server

    from trackai import db
    from trackai.ops_metrics import OpsCollector, metrics_database_url

    url = metrics_database_url()
    registry = CollectorRegistry()
    collector = OpsCollector(url)
    registry.register(collector)
    server, _thread = start_http_server(args.port, addr=args.host, registry=registry)
    print(f"trackai ops-exporter on http://{args.host}:{args.port}/metrics ({db.describe(url)})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    collector.close()
    return 0
