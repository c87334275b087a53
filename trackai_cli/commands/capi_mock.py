"""``trackai capi-mock --port N [--fail-rate] [--throttle-rate] [--timeout-rate] [--latency-ms]``."""

from __future__ import annotations

import argparse


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("a rate must be between 0 and 1")
    return rate


def register(sub: argparse._SubParsersAction) -> None:
    mock = sub.add_parser(
        "capi-mock", help="serve a local fake of Meta's Graph API (CAPI events + debug_token)"
    )
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", type=int, default=8787)
    mock.add_argument("--fail-rate", type=_rate, default=0.0, help="share of requests answered HTTP 500")
    mock.add_argument("--throttle-rate", type=_rate, default=0.0, help="share answered code 17 (throttled)")
    mock.add_argument("--timeout-rate", type=_rate, default=0.0, help="share that hang (client times out)")
    mock.add_argument("--timeout-seconds", type=float, default=5.0, help="how long a 'timeout' hangs")
    mock.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    mock.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    mock.add_argument(
        "--token", action="append", default=None, help="accepted token (repeatable; default: any)"
    )
    mock.add_argument("--revoked-token", action="append", default=[], help="token answered with 190")
    mock.add_argument("--record-file", default=None, help="append accepted events here (JSON lines)")
    mock.add_argument("--no-keep-events", action="store_true", help="count only (benchmarks)")
    mock.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from trackai_cli.capi_mock.app import MockConfig, MockState, create_app

    config = MockConfig(
        fail_rate=args.fail_rate,
        throttle_rate=args.throttle_rate,
        timeout_rate=args.timeout_rate,
        timeout_seconds=args.timeout_seconds,
        latency_ms=args.latency_ms,
        seed=args.seed,
        tokens=args.token,
        revoked_tokens=args.revoked_token,
        record_file=args.record_file,
        keep_events=not args.no_keep_events,
    )
    print(f"trackai capi-mock on http://{args.host}:{args.port} (set TRACKAI_META_GRAPH_URL to it)")
    uvicorn.run(
        create_app(MockState(config)),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return 0
