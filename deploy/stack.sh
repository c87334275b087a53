#!/usr/bin/env bash
# The single-node stack (deploy/compose.yaml): `deploy/stack.sh up|down|status` (make stack-up / stack-down).
#
#   up      writes .trackai/stack/ once (random role passwords, a Fernet key, env files; kept across runs),
#           builds the app image, creates the `trackai` network, starts the stack, waits until the proxy
#           answers /ready, prints the URLs.
#   down    stops and removes the containers (volumes kept; `down --volumes` also deletes the data).
#   status  the containers and their health.
#
# STACK_LOCAL=1 (the default when docker.io cannot be reached): Postgres, Prometheus, Alertmanager and
# nginx come from deploy/infra/Containerfile built on the local Debian base, and Grafana is left out (its
# dashboard is served by Prometheus at /consoles/trackai.html). Otherwise the public images are pulled and
# Grafana runs on :3001 with the provisioned dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}
STATE=.trackai/stack
SUBNET=${STACK_SUBNET:-10.89.42.0/24}
ROLES=(postgres trackai_migration_admin trackai_app_rw trackai_pipeline trackai_dbt trackai_console trackai_metrics
       trackai_readonly_audit trackai_dagster)

compose() {
  local files=(-f deploy/compose.yaml)
  [ "${STACK_LOCAL}" = 1 ] || files+=(-f deploy/compose.grafana.yaml)
  if command -v podman-compose >/dev/null; then
    podman-compose -p trackai "${files[@]}" "$@"
  else
    podman compose -p trackai "${files[@]}" "$@"
  fi
}

registry_reachable() {
  timeout 20 podman pull --quiet docker.io/library/nginx:1.27-bookworm >/dev/null 2>&1
}

write_state() {  # once: later runs keep the passwords the database was initialised with
  [ -s "$STATE/common.env" ] && return 0
  umask 077
  mkdir -p "$STATE"
  chmod 0700 "$STATE"
  install -d -m 0755 "$STATE/secrets" "$STATE/alerting"   # read inside the containers; $STATE itself is 0700
  for role in "${ROLES[@]}"; do
    python3 -c 'import secrets; print(secrets.token_urlsafe(24), end="")' >"$STATE/secrets/$role"
    chmod 0644 "$STATE/secrets/$role"
  done
  printf 'replace-with-the-pagerduty-routing-key' >"$STATE/alerting/pagerduty-routing-key"
  printf 'https://hooks.slack.com/services/replace/with/webhook' >"$STATE/alerting/slack-webhook-url"
  chmod 0644 "$STATE/alerting/"*
  url() { printf 'postgresql://%s:%s@postgres:5432/%s' "$1" "$(cat "$STATE/secrets/$1")" "${2:-trackai}"; }
  key=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
  cat >"$STATE/common.env" <<EOF
TRACKAI_ENV=production
TRACKAI_SECRET_KEY=$key
TRACKAI_LOG_LEVEL=INFO
TRACKAI_PUBLIC_BASE_URL=http://localhost:${STACK_PORT:-8000}
TRACKAI_CONSOLE_PUBLIC_URL=http://localhost:8090
TRACKAI_TRUSTED_PROXIES=$SUBNET
WAIT_FOR_DB=120
EOF
  printf 'TRACKAI_DATABASE_URL=%s\n' "$(url postgres)" >"$STATE/migrate.env"
  printf 'TRACKAI_DATABASE_URL=%s\n' "$(url trackai_app_rw)" >"$STATE/ingest.env"
  printf 'TRACKAI_DATABASE_URL=%s\nTRACKAI_CONSOLE_DATABASE_URL=%s\n' "$(url trackai_console)" "$(url trackai_console)" \
    >"$STATE/console.env"
  printf 'TRACKAI_DATABASE_URL=%s\nTRACKAI_METRICS_DATABASE_URL=%s\n' "$(url trackai_metrics)" "$(url trackai_metrics)" \
    >"$STATE/ops.env"
  printf 'TRACKAI_DAGSTER_DATABASE_URL=%s\n' "$(url trackai_dagster trackai_dagster)" >"$STATE/dagster.env"
  printf 'TRACKAI_DATABASE_URL=%s\nTRACKAI_PIPELINE_DATABASE_URL=%s\nTRACKAI_DBT_DATABASE_URL=%s\n' \
    "$(url trackai_pipeline)" "$(url trackai_pipeline)" "$(url trackai_dbt)" >"$STATE/pipeline.env"
  echo "stack: wrote $STATE (role passwords, Fernet key, env files; 0700)"
}

up() {
  write_state
  if [ -z "${STACK_LOCAL:-}" ]; then
    if registry_reachable; then STACK_LOCAL=0; else STACK_LOCAL=1; fi
  fi
  export STACK_LOCAL
  STACK_APP_IMAGE=$(deploy/build-image.sh | tail -n1)
  export STACK_APP_IMAGE
  if [ "$STACK_LOCAL" = 1 ]; then
    base=$(deploy/build-base.sh | tail -n1)
    podman build --quiet --build-arg "BASE=$base" -t localhost/trackai-infra:bookworm deploy/infra >/dev/null
    export STACK_POSTGRES_IMAGE=localhost/trackai-infra:bookworm STACK_PROMETHEUS_IMAGE=localhost/trackai-infra:bookworm \
           STACK_ALERTMANAGER_IMAGE=localhost/trackai-infra:bookworm STACK_PROXY_IMAGE=localhost/trackai-infra:bookworm
    echo "stack: no registry reachable: infra from localhost/trackai-infra:bookworm, no Grafana"
  fi
  podman network exists trackai || podman network create --subnet "$SUBNET" trackai >/dev/null
  compose up -d
  local port=${STACK_PORT:-8000} deadline=$(( $(date +%s) + ${STACK_TIMEOUT:-300} ))
  until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/ready', timeout=3)" 2>/dev/null; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      echo "stack: the proxy did not answer /ready on :$port in time; see: deploy/stack.sh status" >&2
      return 1
    fi
    sleep 3
  done
  cat <<EOF
stack: up
  ingest (2 replicas behind nginx)  http://localhost:$port   (/docs, webhooks, clicks)
  seller console                    http://localhost:8090
  Dagster UI                        http://localhost:3000
  Prometheus                        http://localhost:9090   dashboard: /consoles/trackai.html
  Alertmanager                      http://localhost:9093   (receivers' keys: $STATE/alerting/)
EOF
  [ "$STACK_LOCAL" = 1 ] || echo "  Grafana                           http://localhost:3001"
}

down() {
  STACK_LOCAL=${STACK_LOCAL:-1}
  export STACK_LOCAL
  if [ "${1:-}" = "--volumes" ]; then compose down -v; else compose down; fi
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  status) podman ps -a --filter label=io.podman.compose.project=trackai --format '{{.Names}}\t{{.Status}}' ;;
  *) echo "usage: deploy/stack.sh up|down [--volumes]|status" >&2; exit 2 ;;
esac
