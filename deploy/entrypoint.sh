#!/usr/bin/env bash
# The image's one entrypoint: the first argument names the process, the rest are passed on.
#
#   ingest        trackai serve on 0.0.0.0:$PORT (8000), $WORKERS uvicorn workers (2); /metrics on the
#                 internal listener (TRACKAI_METRICS_HOST/PORT, set 0.0.0.0 in a pod or compose network)
#   console       the seller console on 0.0.0.0:$PORT (8090)
#   code-server   Dagster code location (gRPC) on 0.0.0.0:$PORT (4000): dagster_project.definitions
#   webserver     Dagster UI on 0.0.0.0:$PORT (3000); extra args, e.g. --grpc-host code --grpc-port 4000
#   daemon        dagster-daemon run (sensors, schedules, run queue); same extra args as webserver
#   migrate       trackai db upgrade (one-shot, as the owner role), then exits
#   ops-exporter  Prometheus gauges/counters read from Postgres on 0.0.0.0:$PORT (9480)
#   capi-mock     the Graph API fake (tests and smoke only) on 0.0.0.0:$PORT (8787)
#   healthcheck [ROLE]  exits 0 when the process started as ROLE (default: this container's) answers
#   anything else is a trackai CLI command: `podman run IMAGE tenant list`, `... dlq list`
#
# Dagster processes get DAGSTER_HOME (the image's /var/lib/dagster, a copy of dagster_home/dagster.yaml) and
# the psycopg2 form of TRACKAI_DAGSTER_DATABASE_URL that it reads (dagster_project.runner.dagster_storage_url).
# Dagster's Helm chart starts `dagster ...` (user code, run pods): that passes through here unchanged.
set -euo pipefail

ROLE_FILE=${HEALTH_ROLE_FILE:-/tmp/trackai-role}
role=${1:-ingest}
[ $# -gt 0 ] && shift

default_port() {
  case "$1" in
    ingest) echo 8000 ;; console) echo 8090 ;; code-server) echo 4000 ;; webserver) echo 3000 ;;
    ops-exporter) echo 9480 ;; capi-mock) echo 8787 ;; *) echo 0 ;;
  esac
}

remember() {  # what `healthcheck` without a role probes
  printf '%s %s\n' "$role" "${PORT:-$(default_port "$role")}" >"$ROLE_FILE" 2>/dev/null || true
}

dagster_env() {  # the instance of dagster.yaml; Dagster's Helm chart brings its own (DAGSTER_PG_PASSWORD)
  export DAGSTER_HOME=${DAGSTER_HOME:-/var/lib/dagster}
  if [ -n "${TRACKAI_DAGSTER_DATABASE_URL:-}" ]; then
    TRACKAI_DAGSTER_DATABASE_URL=$(python -c \
      'import os; from dagster_project.runner import dagster_storage_url as u; print(u(os.environ["TRACKAI_DAGSTER_DATABASE_URL"]))')
    export TRACKAI_DAGSTER_DATABASE_URL
  fi
}

probe() {  # probe URL: 0 when it answers 2xx within 5 s
  python - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as resp:
        sys.exit(0 if 200 <= resp.status < 300 else 1)
except Exception as exc:
    print(f"healthcheck: {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
}

wait_for_database() {  # WAIT_FOR_DB=SECONDS (compose sets it): Postgres may still be starting. [URL]: that
  [ -n "${WAIT_FOR_DB:-}" ] || return 0          # database, else the one this process's settings name
  python - "$WAIT_FOR_DB" "${1:-}" <<'PY'
import sys, time
import psycopg
from trackai import db
url = sys.argv[2]
if not url:
    from trackai.settings import get_settings
    s = get_settings()
    url = s.ingest_database_url or s.console.database_url or s.metrics_database_url or s.pipeline_database_url \
        or s.database_url
deadline = time.monotonic() + float(sys.argv[1])
while True:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        break
    except psycopg.OperationalError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"database not reachable after {sys.argv[1]} s ({db.describe(url)}): {exc}")
        time.sleep(1)
PY
}

healthcheck() {
  local what=${1:-} port=${PORT:-}
  if [ -z "$what" ] && [ -r "$ROLE_FILE" ]; then read -r what port <"$ROLE_FILE"; fi
  port=${port:-$(default_port "$what")}
  case "$what" in
    ingest) probe "http://127.0.0.1:$port/health" ;;
    console) probe "http://127.0.0.1:$port/healthz" ;;
    webserver) probe "http://127.0.0.1:$port/server_info" ;;
    ops-exporter) probe "http://127.0.0.1:$port/metrics" ;;
    capi-mock) probe "http://127.0.0.1:$port/_mock/stats" ;;
    code-server) dagster api grpc-health-check --port "$port" >/dev/null ;;
    daemon) dagster_env && dagster-daemon liveness-check >/dev/null ;;
    *) echo "healthcheck: nothing to probe for role '${what:-unknown}'" >&2; return 1 ;;
  esac
}

case "$role" in
  ingest)
    remember
    wait_for_database
    exec trackai serve --host 0.0.0.0 --port "${PORT:-8000}" --workers "${WORKERS:-2}" "$@" ;;
  console)
    remember
    wait_for_database
    if trackai console --help >/dev/null 2>&1; then
      exec trackai console --host 0.0.0.0 --port "${PORT:-8090}" "$@"
    fi
    # Before `trackai console` exists: the same ASGI factory under uvicorn.
    exec uvicorn --factory console.app:create_app --host 0.0.0.0 --port "${PORT:-8090}" "$@" ;;
  code-server)
    remember; dagster_env
    wait_for_database
    exec dagster code-server start --host 0.0.0.0 --port "${PORT:-4000}" \
      --module-name dagster_project.definitions --location-name trackai "$@" ;;
  webserver)  # the instance database only: no application settings here
    remember; dagster_env
    wait_for_database "${TRACKAI_DAGSTER_DATABASE_URL/+psycopg2/}"
    [ $# -gt 0 ] || set -- --module-name dagster_project.definitions
    exec dagster-webserver --host 0.0.0.0 --port "${PORT:-3000}" "$@" ;;
  daemon)  # the instance database only: no application settings here
    remember; dagster_env
    wait_for_database "${TRACKAI_DAGSTER_DATABASE_URL/+psycopg2/}"
    [ $# -gt 0 ] || set -- --module-name dagster_project.definitions
    exec dagster-daemon run "$@" ;;
  migrate)
    wait_for_database
    exec trackai db upgrade "$@" ;;
  ops-exporter)
    remember
    wait_for_database
    exec trackai ops-exporter --host 0.0.0.0 --port "${PORT:-9480}" "$@" ;;
  capi-mock)
    remember
    exec trackai capi-mock --host 0.0.0.0 --port "${PORT:-8787}" "$@" ;;
  healthcheck)
    healthcheck "$@" ;;
  dagster|dagster-webserver|dagster-daemon)
    dagster_env; exec "$role" "$@" ;;
  bash|sh|python|dbt)
    exec "$role" "$@" ;;
  *)
    exec trackai "$role" "$@" ;;
esac
