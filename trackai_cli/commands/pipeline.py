"""``trackai pipeline run``: one micro-batch through micro_batch_job (the job the sensor launches)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    pipeline = sub.add_parser("pipeline", help="micro-batch: fold purchases, match clicks, dedupe, dispatch")
    actions = pipeline.add_subparsers(dest="pipeline_command", metavar="ACTION")
    actions.required = True
    run = actions.add_parser(
        "run",
        help="run one micro-batch synchronously and print a JSON summary",
        description=(
            "Without --partition: process the conversions landed past the durable watermark (what the sensor "
            "would request). With --partition: recompute those UTC days (a backfill; idempotent)."
        ),
    )
    run.add_argument(
        "--partition",
        action="append",
        default=[],
        metavar="YYYY-MM-DD",
        help="recompute this daily partition (repeatable)",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from datetime import date

    from trackai import db

    for day in args.partition:
        try:
            date.fromisoformat(day)
        except ValueError as exc:
            raise ValueError(f"--partition must be YYYY-MM-DD, got {day!r}") from exc
    db.database_url(announce=True)
    from dagster_project.runner import run_micro_batch

    summary = run_micro_batch(args.partition or None)
    print(json.dumps(summary, indent=2, default=str))
    failed = [r for r in summary["runs"] if not r.get("success", True)]
    if failed:
        print(f"trackai: {len(failed)} run(s) failed", file=sys.stderr)
        return 1
    return 0
