#!/usr/bin/env bash
# First start of the stack's Postgres (run once by the image's docker-entrypoint.sh on an empty volume):
# the databases and the login roles with the passwords deploy/stack.sh generated. The migrations
# (`trackai db upgrade`, the stack's `migrate` service) create the same roles only when missing, and grant
# them what they may do. Passwords are read from /run/trackai-secrets/<role>, never from the environment.
set -euo pipefail
SECRETS=/run/trackai-secrets
psql=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-psqlrc --quiet)
for role in trackai_migration_admin trackai_app_rw trackai_pipeline trackai_dbt trackai_console trackai_metrics \
            trackai_readonly_audit trackai_dagster; do
  password=$(cat "$SECRETS/$role")
  "${psql[@]}" --set=role="$role" --set=password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password') \gexec
SQL
done
"${psql[@]}" <<'SQL'
CREATE DATABASE trackai OWNER trackai_migration_admin;
CREATE DATABASE trackai_dagster OWNER trackai_dagster;
SQL
