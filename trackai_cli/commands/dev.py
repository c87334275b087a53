"""``trackai dev``: Dagster (webserver + daemon, sensors on) and the ingest service together.

Resolves the database URLs (embedded Postgres by default), exports DAGSTER_HOME (the repo's dagster_home/
unless set) and TRACKAI_DAGSTER_DATABASE_URL for dagster_home/dagster.yaml, then runs
``dagster dev -w workspace.yaml`` and ``trackai serve``; Ctrl-C (or either child exiting) stops both.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    dev = sub.add_parser("dev", help="run Dagster (UI on :3000) and the ingest service together")
    dev.add_argument("--dagster-port", type=int, default=3000)
    dev.add_argument("--no-serve", action="store_true", help="only Dagster, without the ingest service")
    dev.set_defaults(handler=_dev)


def dev_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment both children get (database URLs resolved once, here)."""
    from dagster_project.runner import ensure_instance_env
    from trackai import db
    from trackai.settings import REPO_ROOT

    env = dict(os.environ if base is None else base)
    env["TRACKAI_DATABASE_URL"] = env.get("TRACKAI_DATABASE_URL") or db.database_url(announce=True)
    env.setdefault("DAGSTER_HOME", str(REPO_ROOT / "dagster_home"))
    # The venv's bin first, so dagster's code server finds `dbt` even when the venv is not activated.
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return ensure_instance_env(env)


def _has_command(name: str) -> bool:
    from trackai_cli.cli import build_parser

    parser = build_parser()
    return any(
        name in (action.choices or {})
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )


def _dev(args: argparse.Namespace) -> int:
    from trackai import migrations
    from trackai.settings import REPO_ROOT, get_settings

    env = dev_environment()
    migrations.upgrade(env["TRACKAI_DATABASE_URL"], get_settings().sql_dir)
    bin_dir = os.path.dirname(sys.executable)
    commands = [
        [os.path.join(bin_dir, "dagster"), "dev", "-w", "workspace.yaml", "-p", str(args.dagster_port)],
    ]
    if not args.no_serve:
        if _has_command("serve"):
            commands.append([os.path.join(bin_dir, "trackai"), "serve"])
        else:
            print("trackai dev: `trackai serve` is not available yet; starting Dagster only", file=sys.stderr)
        commands.append([os.path.join(bin_dir, "trackai"), "console"])
    procs = [subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True) for cmd in commands]
    print(
        f"trackai dev: Dagster UI http://127.0.0.1:{args.dagster_port} (DAGSTER_HOME={env['DAGSTER_HOME']}),"
        f" seller console {get_settings().console.public_url}",
        file=sys.stderr,
    )
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan the children
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    codes = [p.returncode or 0 for p in procs]
    return max([c for c in codes if c > 0], default=0)
