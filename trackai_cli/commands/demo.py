"""``trackai demo``: the main job on whatever database is configured (embedded by default)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="run the end-to-end demo (embedded Postgres unless configured)")
    demo.add_argument("--quick", action="store_true", help="smaller traffic, for CI")
    demo.add_argument(
        "--seed",
        type=int,
        help="traffic seed (default: 7 on a fresh data folder, one more on each rerun, so reruns send new orders)",
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from trackai_cli.demo import run_demo

    return run_demo(quick=args.quick, seed=args.seed)
