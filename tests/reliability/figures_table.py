"""Fill docs/reliability.md's figures table from .trackai/reliability/*.json (the last run of the suite).

.venv/bin/python -m tests.reliability.figures_table
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

from trackai.settings import REPO_ROOT

FIGURES = REPO_ROOT / ".trackai" / "reliability"
PAGE = REPO_ROOT / "docs" / "reliability.md"
TEMPLATE_ROWS = {
    "R1": "test_r1_crash_under_load.py",
    "R2": "test_r2_meta_outage.py",
    "R3": "test_r3_crash_between_send_and_record.py",
    "R4": "test_r4_bad_input.py",
    "R5": "test_r5_isolation_and_pii.py",
    "R6": "test_r6_postgres_restart.py",
}


def _load(prefix: str) -> dict:
    matches = sorted(FIGURES.glob(f"{prefix}*.json"))
    if not matches:
        raise SystemExit(f"no figures for {prefix} in {FIGURES}: run the suite first")
    return json.loads(matches[0].read_text())


def cells() -> dict[str, str]:
    r1 = _load("test_kill_9_under_load")
    r2 = _load("test_r2_meta_outage")
    r3 = _load("test_r3_crash_after_accept")
    r4 = _load("test_generated_request_total")
    r4s = _load("test_schemathesis_openapi")
    unverified = [json.loads(p.read_text()) for p in FIGURES.glob("test_unverified_requests_*.json")]
    r5x = _load("test_r5_cross_tenant")
    r5p = _load("test_r5_no_plaintext")
    r5s = _load("test_r5_no_secret")
    r5r = _load("test_r5_roles_after_demo")
    r6 = _load("test_postgres_restart")
    fuzz_statuses: Counter = Counter()
    for u in unverified:
        fuzz_statuses.update(u["statuses"])
    fuzz_5xx = sum(n for status, n in fuzz_statuses.items() if str(status).startswith("5"))
    fuzz_landed = sum(
        u["landing_rows_after"][t] - u["landing_rows_before"][t]
        for u in unverified
        for t in u["landing_rows_after"]
    )
    kills = ", ".join(f"{k['acknowledged_at_kill']:,}" for k in r1["kills"])
    return {
        "R1": f"{r1['webhooks']:,} webhooks, {r1['requests_sent']:,} requests ({r1['retries']} retries); "
        f"killed at {kills} acknowledgements; {r1['acknowledged_2xx']:,} acknowledged, "
        f"{r1['found_in_postgres']:,} found, {r1['missing_acknowledged']} missing, {r1['duplicate_rows']} "
        f"duplicate rows, {r1['5xx_responses']} 5xx; {r1['outcomes'].get('duplicate', 0)} answered "
        f"`duplicate` on retry; {r1['runtime_s']} s",
        "R2": f"{r2['events']} events, {r2['dispatch_runs']} dispatch runs; fake answered "
        f"{r2['requests_by_kind']}; {r2['delivered']} delivered, {r2['duplicates_received_by_fake']} "
        f"event_ids received twice; breaker opened at failure {r2['breaker_failures_when_opened']} "
        f"(threshold {r2['breaker_threshold']}), {r2['runs_skipped_by_open_breaker']} runs skipped while "
        f"open, closed after {r2['breaker_open_seconds']} s; dispatch_attempts "
        f"{r2['attempt_rows_by_status']}",
        "R3": f"{r3['events']} events in batches of {r3['batch_size']}; killed {r3['kill_after_accept_ms']} ms "
        f"after the fake accepted batch {r3['killed_during_request']}; next run re-sent "
        f"{r3['resent_event_ids']} events (same event_ids), {r3['resent_other_events']} others, "
        f"{r3['lost']} lost; fake: {r3['events_received_by_fake']} received, "
        f"{r3['distinct_event_ids_at_fake']} distinct; {r3['runtime_s']} s",
        "R4": f"{r4['generated_requests']:,} generated requests ({r4['by_part']}); {r4s['5xx']} 5xx from "
        f"schemathesis, {fuzz_5xx} from the fuzzers; unverified requests answered {dict(fuzz_statuses)}; "
        f"landing rows from unverified requests: {fuzz_landed}; every 4xx had a JSON `detail`",
        "R5": f"cross-tenant: {r5x['cross_tenant_statuses']}, rows landed for B "
        f"{r5x['landed_for_b']}; denied statements: readonly {r5r['statements_denied']['readonly']}, "
        f"app {r5r['statements_denied']['app']}; PII scan: {r5p['plaintext_forms_searched']} plaintext "
        f"forms over {r5p['app_db']['columns_scanned']} + {r5p['dagster_db']['columns_scanned']} columns "
        f"and {r5p['log_files_scanned']} log files, {r5p['app_db']['hits'] + r5p['dagster_db']['hits'] + r5p['log_hits']} "
        f"hits; {r5s['secrets_searched']} secrets searched in logs and both databases, "
        f"{r5s['log_hits'] + r5s['dagster_db_hits'] + r5s['app_db_secret_hits']} hits",
        "R6": f"{r6['webhooks']:,} webhooks, {r6['requests_sent']:,} requests; Postgres down "
        f"{r6['outage_s']} s; {r6['retry_after_on_503']} answers 503 all with Retry-After, "
        f"{r6['acknowledged_while_down']} acknowledged while down; recovered by itself in "
        f"{r6['recovery_s']} s; {r6['acknowledged_2xx']:,} acknowledged, {r6['found_in_postgres']:,} found, "
        f"{r6['missing_acknowledged']} missing, {r6['duplicate_rows']} duplicates",
    }


def main() -> int:
    values = cells()
    text = PAGE.read_text()
    start, end = text.index("<!-- figures -->"), text.index("<!-- /figures -->")
    block = text[start:end]
    for key, value in values.items():
        block = re.sub(
            rf"(\| {key} \|.*\| ).*( \|)$", lambda m, v=value: m.group(1) + v + m.group(2), block, flags=re.M
        )
    PAGE.write_text(text[:start] + block + text[end:])
    print(f"updated {PAGE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
