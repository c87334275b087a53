"""Small helpers shared by the provisioning tests (imported as a sibling module)."""

from __future__ import annotations

from trackai.provisioning import saga


def print_step_table(title: str, conn, run_id: str) -> list[dict]:
    rows = saga.step_table(conn, run_id)
    run = saga.run_row(conn, run_id)
    print(f"\n{title}: run {run_id} state={run['state']}")
    print(f"{'#':<2} {'step':<16} {'state':<12} {'att':>3}  external ids / error")
    for r in rows:
        ids = ", ".join(f"{k}={v}" for k, v in r["external_ids"].items())
        print(
            f"{r['position']:<2} {r['step']:<16} {r['state']:<12} {r['attempts']:>3}  {ids}"
            + (f"  | error: {r['error'][:110]}" if r["error"] else "")
        )
    return rows
