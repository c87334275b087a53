"""P6 overheads: code-location load time and the fixed cost of an empty micro-batch run.

    .venv/bin/python bench/bench_overheads.py            # full: 5 repetitions of each, ~3 minutes
    .venv/bin/python bench/bench_overheads.py --smoke    # CI: 1 repetition, no timed assertion

(a) Code-location load, each repetition in a fresh interpreter: ``import dagster_project.definitions``,
    build the Definitions (``build_all_defs()``, what the lazy ``@dg.definitions`` ``defs`` returns) and
    resolve the repository (asset graph, every job), timed inside the process. Baseline in the same run,
    also fresh interpreters: a bare ``import dagster``. Median of ``--repeat``; target <= 3 s. Once per run
    also ``dagster definitions validate -w workspace.yaml`` (CLI + code server, wall clock), for reference.
(b) Empty micro-batch, against a throwaway application database (migrated, one tenant, nothing landed)
    and a throwaway Postgres-backed Dagster instance (DAGSTER_HOME with a copy of dagster_home/dagster.yaml):
    ``micro_batch_job`` (the job the sensor launches: run_batch, dispatch, then the two dbt steps) with the
    sensor's incremental tags at the current watermark, i.e. nothing to do.
      * cold: ``dagster job execute -m dagster_project.definitions -j micro_batch_job`` in a new process,
        wall clock (interpreter, imports, code location, run storage, every step): what a launched run pays.
        Target <= 10 s.
      * warm: ``execute_in_process`` on the same instance from this process (definitions already loaded):
        Dagster's own per-run machinery.
    Baseline: the same batch and dispatch work as plain function calls (``run_batch(url,
    mode="incremental", upto=0)`` and ``run_dispatch``), timed in this process (no dbt).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as pysecrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from _report import Target, publish  # noqa: E402

from trackai import db, migrations  # noqa: E402

IMPORT_DAGSTER = """
import json, time
t0 = time.perf_counter()
import dagster
print(json.dumps({"import_dagster_s": time.perf_counter() - t0}))
"""

LOAD_LOCATION = """
import json, logging, sys, time
logging.disable(logging.WARNING)
t0 = time.perf_counter()
import dagster
t1 = time.perf_counter()
import dagster_project.definitions as location
t2 = time.perf_counter()
if sys.argv[1:] == ["without-dbt"]:  # measures a proposal (dbt in its own code location); changes nothing
    location.DOMAINS = tuple(d for d in location.DOMAINS if d != "dbt")
defs = location.build_all_defs()
t3 = time.perf_counter()
repo = defs.get_repository_def()
jobs = repo.get_all_jobs()
t4 = time.perf_counter()
print(json.dumps({
    "import_dagster_s": t1 - t0, "import_module_s": t2 - t1, "build_defs_s": t3 - t2,
    "resolve_repository_s": t4 - t3, "load_s": t4 - t0,
    "assets": len(list(repo.asset_graph.get_all_asset_keys())), "jobs": len(jobs),
}))
"""


def progress(message: str) -> None:
    print(f"[bench_overheads {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh(code: str, env: dict, *argv: str) -> dict:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-3000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["process_wall_s"] = wall
    return data


def bench_load(repeat: int, env: dict, validate_cli: bool) -> dict:
    bare, location, without_dbt = [], [], []
    for i in range(repeat):  # interleaved so that a burst of load on the machine hits all
        bare.append(fresh(IMPORT_DAGSTER, env))
        location.append(fresh(LOAD_LOCATION, env))
        if validate_cli:
            without_dbt.append(fresh(LOAD_LOCATION, env, "without-dbt"))
        progress(
            f"load {i + 1}/{repeat}: import dagster {bare[-1]['import_dagster_s']:.2f} s, "
            f"code location {location[-1]['load_s']:.2f} s"
            + (f", without the dbt domain {without_dbt[-1]['load_s']:.2f} s" if without_dbt else "")
        )
    validate_s = None
    if validate_cli:  # once, for reference: the CLI spawns a code server that loads the location
        started = time.perf_counter()
        validate = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        validate_s = round(time.perf_counter() - started, 3)
        if validate.returncode != 0:
            raise RuntimeError(f"dagster definitions validate failed: {validate.stderr[-3000:]}")
        progress(f"dagster definitions validate -w workspace.yaml: {validate_s:.2f} s")

    def med(rows: list[dict], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    return {
        "import_dagster_s": med(bare, "import_dagster_s"),
        "import_dagster_process_s": med(bare, "process_wall_s"),
        "load_s": med(location, "load_s"),
        "load_process_s": med(location, "process_wall_s"),
        "load_without_dbt_s": med(without_dbt, "load_s") if without_dbt else None,
        "phases_s": {
            k: med(location, k)
            for k in ("import_dagster_s", "import_module_s", "build_defs_s", "resolve_repository_s")
        },
        "assets": location[0]["assets"],
        "jobs": location[0]["jobs"],
        "validate_cli_s": validate_s,
        "runs": {"import_dagster": bare, "code_location": location},
    }


COLD_RUN = """
import json, logging, sys, time
t0 = time.perf_counter()
logging.disable(logging.WARNING)
import dagster as dg
from dagster_project.definitions import build_all_defs
from dagster_project.defs.pipeline.jobs import micro_batch_job
from dagster_project.lib.keys import MICRO_BATCH_JOB

variant, partition, tags = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
defs = build_all_defs()
name = MICRO_BATCH_JOB
if variant == "without_checks":  # the same job without any asset check (only measured if it has some)
    name = "micro_batch_job_without_checks"
    job = dg.define_asset_job(
        name,
        selection=micro_batch_job.selection.without_checks(),
        partitions_def=micro_batch_job.partitions_def,
        executor_def=micro_batch_job.executor_def,
        tags=micro_batch_job.tags,
    )
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
job = defs.resolve_job_def(name)
t1 = time.perf_counter()
result = job.execute_in_process(instance=dg.DagsterInstance.get(), partition_key=partition, tags=tags)
t2 = time.perf_counter()
print(json.dumps({"success": result.success, "load_s": t1 - t0, "run_s": t2 - t1,
                  "steps": sorted(n for n in job.graph.node_dict)}))
"""


def empty_batch_tags() -> tuple[str, dict[str, str]]:
    from dagster_project.lib.keys import MODE_INCREMENTAL, TAG_MODE, TAG_WATERMARK_TO
    from dagster_project.runner import clamp_partitions

    today = clamp_partitions([datetime.now(UTC).date().isoformat()])[0]
    return today, {TAG_MODE: MODE_INCREMENTAL, TAG_WATERMARK_TO: "0"}


def cold_run(variant: str, partition: str, tags: dict, env: dict) -> dict:
    """A fresh interpreter that loads the code location and runs the job once: what a run worker pays."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", COLD_RUN, variant, partition, json.dumps(tags)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines or not json.loads(lines[-1])["success"]:
        raise RuntimeError(f"cold run ({variant}) failed: {(out.stdout + out.stderr)[-3000:]}")
    return {**json.loads(lines[-1]), "wall_s": wall}


def bench_batch(args, env: dict, url: str) -> dict:
    import dagster as dg

    from dagster_project.lib.keys import MICRO_BATCH_JOB
    from dagster_project.runner import load_definitions
    from trackai.dispatch import run_dispatch
    from trackai.pipeline.batch import run_batch

    partition, tags = empty_batch_tags()

    def pure() -> float:  # the baseline: the same work as plain calls
        t0 = time.perf_counter()
        summary = run_batch(url, mode="incremental", upto=0)
        dispatched = run_dispatch(url)
        elapsed = time.perf_counter() - t0
        if not summary.skipped or dispatched.get("sent"):
            raise RuntimeError(f"not an empty batch: {summary} {dispatched}")
        return elapsed

    pure()  # warm (imports, first connection)
    instance = dg.DagsterInstance.get()
    t0 = time.perf_counter()
    job = load_definitions().resolve_job_def(MICRO_BATCH_JOB)
    load_in_process = time.perf_counter() - t0
    checks = sorted(
        f"{'/'.join(k.asset_key.path)}:{k.name}" for k in job.asset_layer.asset_graph.asset_check_keys
    )
    t0 = time.perf_counter()
    job.execute_in_process(instance=instance, partition_key=partition, tags=tags)
    first_warm = time.perf_counter() - t0
    variants = ["job"] + (["without_checks"] if checks and not args.smoke else [])
    cold: dict[str, list[dict]] = {v: [] for v in variants}
    warm, base = [], []
    for i in range(args.repeat):
        if not args.smoke and i < args.cold_repeat:
            for variant in variants:
                cold[variant].append(cold_run(variant, partition, tags, env))
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, partition_key=partition, tags=tags)
        warm.append(time.perf_counter() - t0)
        if not result.success:
            raise RuntimeError("micro_batch_job failed")
        base.append(pure())
        line = f"empty batch {i + 1}/{args.repeat}: warm {warm[-1]:.2f} s, pure {base[-1]:.3f} s"
        for variant in variants:
            if len(cold[variant]) > i:
                line += f", cold {variant} {cold[variant][-1]['wall_s']:.1f} s"
        progress(line)
    cli_s = None
    if not args.smoke:  # once, for reference: the stock CLI (one more interpreter: the CLI's own imports)
        command = [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "dagster_project.definitions",
        ]
        command += [
            "-j",
            MICRO_BATCH_JOB,
            "--tags",
            json.dumps({**tags, "dagster/partition": partition}),
        ]
        t0 = time.perf_counter()
        out = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
        cli_s = round(time.perf_counter() - t0, 3)
        if out.returncode != 0:
            raise RuntimeError(f"dagster job execute failed: {(out.stdout + out.stderr)[-3000:]}")
        progress(f"dagster job execute (1x): {cli_s:.1f} s")

    def med(rows: list[dict], key: str) -> float | None:
        return round(statistics.median(r[key] for r in rows), 3) if rows else None

    return {
        "partition": partition,
        "tags": tags,
        "asset_checks_in_job": checks,
        "cold_s": {v: med(rows, "wall_s") for v, rows in cold.items()},
        "cold_load_s": {v: med(rows, "load_s") for v, rows in cold.items()},
        "cold_run_s": {v: med(rows, "run_s") for v, rows in cold.items()},
        "cli_s": cli_s,
        "warm_s": round(statistics.median(warm), 3),
        "first_warm_s": round(first_warm, 3),
        "pure_s": round(statistics.median(base), 4),
        "definitions_load_in_process_s": round(load_in_process, 3),
        "runs": {"cold": cold, "warm": warm, "pure": base},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="1 repetition of each, no timed assertion (CI)")
    parser.add_argument("--repeat", type=int, default=5, help="load and warm-run repetitions")
    parser.add_argument("--cold-repeat", type=int, default=3, help="fresh-interpreter runs of the job")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway databases")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat = 1
    started = time.perf_counter()

    from cryptography.fernet import Fernet

    from dagster_project.runner import dagster_storage_url
    from trackai.settings import reset_settings_cache

    server = db.server_url()
    suffix = pysecrets.token_hex(3)
    data_name, dagster_name = f"trackai_bench_overheads_{suffix}", f"trackai_bench_overheads_dagster_{suffix}"
    home = Path(tempfile.mkdtemp(prefix="trackai-bench-overheads-"))
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    db.ensure_database(server, data_name)
    db.ensure_database(server, dagster_name)
    url = db.with_database(server, data_name)
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        os.environ.update(
            {
                "DAGSTER_HOME": str(home),
                "TRACKAI_DATABASE_URL": url,
                "TRACKAI_DAGSTER_DATABASE_URL": dagster_storage_url(db.with_database(server, dagster_name)),
                "TRACKAI_SECRET_KEY": os.environ.get("TRACKAI_SECRET_KEY") or Fernet.generate_key().decode(),
                "TRACKAI_META_GRAPH_URL": "http://127.0.0.1:9",  # nothing to send; never reaches Meta
            }
        )
        reset_settings_cache()
        import psycopg

        from trackai import tenants

        with psycopg.connect(url, autocommit=True) as conn:
            tenants.create_tenant(
                conn,
                name=f"bench overheads {suffix}",
                pixel_id="1234567890",
                meta_token=f"bench-token-{suffix}",
                gateway_secrets={"stripe": f"whsec_{suffix}"},
            )
        env = {**os.environ}
        progress(f"code-location load x{args.repeat} (fresh interpreters)")
        load = bench_load(args.repeat, env, validate_cli=not args.smoke)
        progress(f"empty micro-batch x{args.repeat}")
        batch = bench_batch(args, env, url)
    finally:
        if not args.keep:
            db.drop_database(server, data_name)
            db.drop_database(server, dagster_name)
            shutil.rmtree(home, ignore_errors=True)
    runtime = time.perf_counter() - started
    return report(args, load, batch, runtime)


def report(args, load: dict, batch: dict, runtime: float) -> int:
    def ratio(a: float | None, b: float | None) -> float | str:
        return round(a / b, 2) if a is not None and b else ""

    def diff(a: float | None, b: float | None) -> float | str:
        return round(a - b, 3) if a is not None and b is not None else ""

    imp, imp_p, pure = load["import_dagster_s"], load["import_dagster_process_s"], batch["pure_s"]
    columns = ["measure", "median s", "baseline", "baseline s", "x baseline", "overhead s"]
    rows = [
        [
            "code location load (in process)",
            load["load_s"],
            "import dagster",
            imp,
            ratio(load["load_s"], imp),
            diff(load["load_s"], imp),
        ],
        [
            "  same, process wall",
            load["load_process_s"],
            "python -c 'import dagster'",
            imp_p,
            ratio(load["load_process_s"], imp_p),
            diff(load["load_process_s"], imp_p),
        ],
    ]
    if load["load_without_dbt_s"] is not None:
        rows.append(
            [
                "  same without the dbt domain (proposal)",
                load["load_without_dbt_s"],
                "import dagster",
                imp,
                ratio(load["load_without_dbt_s"], imp),
                diff(load["load_without_dbt_s"], imp),
            ]
        )
    if load["validate_cli_s"] is not None:
        rows.append(["  dagster definitions validate (1x)", load["validate_cli_s"], "", "", "", ""])
    cold = batch["cold_s"].get("job")
    if cold is not None:
        rows.append(
            [
                "empty micro-batch, cold (fresh process)",
                cold,
                "plain run_batch + run_dispatch",
                pure,
                ratio(cold, pure),
                diff(cold, pure),
            ]
        )
        rows.append(["  of which: load code location", batch["cold_load_s"]["job"], "", "", "", ""])
        rows.append(["  of which: execute_in_process", batch["cold_run_s"]["job"], "", "", "", ""])
    fixed = batch["cold_s"].get("without_checks")
    if fixed is not None:
        rows.append(
            [
                "  same job without asset checks (proposed)",
                fixed,
                "plain run_batch + run_dispatch",
                pure,
                ratio(fixed, pure),
                diff(fixed, pure),
            ]
        )
        rows.append(
            ["    of which: execute_in_process", batch["cold_run_s"]["without_checks"], "", "", "", ""]
        )
    if batch["cli_s"] is not None:
        rows.append(["  dagster job execute CLI (1x)", batch["cli_s"], "", "", "", ""])
    rows.append(
        [
            "empty micro-batch, warm (execute_in_process)",
            batch["warm_s"],
            "plain run_batch + run_dispatch",
            pure,
            ratio(batch["warm_s"], pure),
            diff(batch["warm_s"], pure),
        ]
    )
    targets = [Target("code-location load (median, fresh process)", load["load_s"], 3.0, "s")]
    if cold is not None:
        targets.append(Target("empty micro-batch run, cold (median)", cold, 10.0, "s"))
    else:
        targets.append(Target("empty micro-batch run, first in process", batch["first_warm_s"], 10.0, "s"))

    def plot(ax) -> None:
        phases = load["phases_s"]
        ax.bar([0], [imp], 0.35, color="#9aa5b1", label="baseline (import dagster / plain calls)")
        bottom = 0.0
        for key, color in (
            ("import_dagster_s", "#c5d5e4"),
            ("import_module_s", "#7fb3e0"),
            ("build_defs_s", "#2f6fb0"),
            ("resolve_repository_s", "#173f66"),
        ):
            label = "load: " + key.removesuffix("_s").replace("_", " ")
            ax.bar([0.4], [phases[key]], 0.35, bottom=[bottom], color=color, label=label)
            bottom += phases[key]
        labels, values = [], []
        for name, value in (
            ("cold", cold),
            ("cold, no checks\n(proposed)", fixed),
            ("warm", batch["warm_s"]),
        ):
            if value is not None:
                labels.append(name)
                values.append(value)
        xs = [1.4 + i for i in range(len(values))]
        ax.bar(xs, values, 0.5, color="#d9822b", label="empty micro_batch_job")
        ax.bar(xs, [pure] * len(xs), 0.5, color="#9aa5b1")
        ax.axhline(3.0, color="#2f6fb0", ls=":", lw=1)
        ax.axhline(10.0, color="#d9822b", ls=":", lw=1)
        ax.set_xticks([0.2, *xs], ["code location\nload", *labels], fontsize=8)
        ax.set_ylabel("seconds (median); dotted: targets 3 s / 10 s")
        ax.legend(fontsize=6, loc="upper left")

    publish(
        "p6_overheads",
        title="P6 overheads: code-location load and empty micro-batch",
        columns=columns,
        rows=rows,
        targets=targets,
        smoke=args.smoke,
        plot=plot,
        details={"repeat": args.repeat, "load": load, "empty_batch": batch, "runtime_s": round(runtime, 1)},
    )
    print(
        f"  load phases (median s): {json.dumps(load['phases_s'])}; assets {load['assets']}, jobs {load['jobs']}"
    )
    print(f"  asset checks in micro_batch_job: {', '.join(batch['asset_checks_in_job']) or 'none'}")
    print(f"  runtime {runtime:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
