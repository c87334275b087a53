"""``make eval-matching``: every scenario through the real engine in a throwaway database; the table on
stdout, the figures in docs/matching/eval_<label>.json, and with ``--docs`` the table and plot in
docs/matching.md (before vs after when docs/matching/eval_before.json exists).

Usage:
    .venv/bin/python -m trackai_cli.eval_matching --docs                # all scenarios, label "after"
    .venv/bin/python -m trackai_cli.eval_matching --label before        # what the current engine scores
    .venv/bin/python -m trackai_cli.eval_matching --scenario sparse_households --scale 0.5
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trackai import db, migrations
from trackai.pipeline.params import MatchParams
from trackai.settings import REPO_ROOT, get_settings
from trackai_cli.eval_matching import metrics, report
from trackai_cli.eval_matching.harness import run_scenario
from trackai_cli.eval_matching.simulator import SCENARIOS

OUT_DIR = REPO_ROOT / "docs" / "matching"


def _send_min_confidence() -> float | None:
    """The dispatch gate on probabilistic matches, when this version of the settings has one."""
    return getattr(get_settings().match, "send_min_confidence", None)


def evaluate(url: str, names: list[str] | None, scale: float) -> list[dict]:
    start = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    params = MatchParams.from_settings()
    send = _send_min_confidence()
    results = []
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        sc = scenario if scale == 1 else scenario.scaled(scale)
        t0 = time.perf_counter()
        run = run_scenario(url, sc, start=start, params=params)
        result = metrics.score(run.traffic.truth, run.decisions, send)
        result.update(
            scenario=sc.name,
            description=sc.description,
            knobs=sc.knobs(),
            clicks=run.traffic.clicks.height,
            seconds=round(time.perf_counter() - t0, 1),
        )
        results.append(result)
        print(f"  [eval] {sc.name}: {result['seconds']} s", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0, help="visitors/purchases factor (default 1)")
    parser.add_argument("--label", default="after", help="results file docs/matching/eval_<label>.json")
    parser.add_argument("--docs", action="store_true", help="rewrite the results block of docs/matching.md")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    args = parser.parse_args(argv)
    server = db.server_url()
    name = f"trackai_eval_matching_{secrets.token_hex(3)}"
    db.ensure_database(server, name)
    url = db.with_database(server, name)
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        results = evaluate(url, args.scenario, args.scale)
    finally:
        if args.keep:
            print(f"  [eval] kept database {name}", file=sys.stderr)
        else:
            db.drop_database(server, name)
    print(report.table(results))
    payload = report.envelope(results, MatchParams.from_settings(), _send_min_confidence(), args.scale)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = Path(OUT_DIR / f"eval_{args.label}.json")
    out.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"  [eval] wrote {out.relative_to(REPO_ROOT)}", file=sys.stderr)
    if args.docs:
        for path in report.write_docs(OUT_DIR):
            print(f"  [eval] wrote {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
