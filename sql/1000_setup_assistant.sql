-- The setup assistant (issue 16, docs/setup-assistant.md): the gate provisioning waits for (contract C1),
-- the transcript of every setup tool call, the per-step failure streaks and the support cases they open.
--
-- Every table is tenant-scoped and read by the seller console under the console policies of sql/0602
-- (console.enforce_tenant_rls). The tools themselves write through the application's own connection
-- (CLI, MCP server, the console's setup runner), never as trackai_console.
CREATE SCHEMA setup AUTHORIZATION trackai_migration_admin;
COMMENT ON SCHEMA setup IS 'Setup assistant: gate passes, tool-call transcript, failure streaks, support cases.';

-- C1: a gate passed by a tenant (today only the test CAPI event Meta reported as received). Provisioning
-- (issue 17) publishes GTM only after trackai.setup.gates.latest_pass() finds one.
CREATE TABLE setup.gate_passes (
    gate_pass_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    gate         text NOT NULL CHECK (gate IN ('test_capi_event')),
    event_id     text,
    passed_at    timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX gate_passes_tenant_gate_idx ON setup.gate_passes (tenant_id, gate, passed_at DESC);

-- One row per tool call, whoever called (the seller in the console, an operator with the CLI, an AI agent
-- through the MCP server). Inputs are stored without secrets (trackai.core.setup_redact); outputs are the
-- tool's full result (status, code, observed, next action in pt-BR and English).
CREATE TABLE setup.transcript (
    entry_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    tool        text NOT NULL,
    actor       text NOT NULL CHECK (actor IN ('seller', 'operator', 'agent')),
    actor_label text,
    inputs      jsonb NOT NULL DEFAULT '{}',
    outputs     jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL CHECK (status IN ('pass', 'fail', 'warn')),
    code        text NOT NULL,
    event_id    text,
    duration_ms integer,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcript_tenant_time_idx ON setup.transcript (tenant_id, created_at DESC, entry_id DESC);

-- The current streak of consecutive failures of one step of one tenant (reset when the step passes).
CREATE TABLE setup.step_streaks (
    tenant_id            uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    tool                 text NOT NULL,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_code            text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tool)
);

-- A person called in: opened at the third consecutive failure of a step, closed when the step passes.
-- At most one open case per tenant and step (the partial unique index), so a fourth failure or two
-- concurrent third failures never open a second one.
CREATE TABLE setup.support_cases (
    case_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    tool           text NOT NULL,
    summary        jsonb NOT NULL,
    transcript_url text,
    notified       boolean NOT NULL DEFAULT false,
    notify_error   text,
    opened_at      timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    closed_reason  text
);
CREATE UNIQUE INDEX support_cases_one_open_idx ON setup.support_cases (tenant_id, tool) WHERE closed_at IS NULL;
CREATE INDEX support_cases_tenant_idx ON setup.support_cases (tenant_id, opened_at DESC);

-- C1: attempts sent with a test_event_code (per call or the tenant's) are tests: billing (C2) never counts them.
ALTER TABLE ops.dispatch_attempts ADD COLUMN is_test boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN ops.dispatch_attempts.is_test IS
    'Sent with a Meta test_event_code (setup test event or a tenant in test mode); never billable (C1/C2).';

-- The console reads all four under the tenant policies (sql/0602) and writes none of them.
SELECT console.enforce_tenant_rls(rel)
  FROM unnest(ARRAY['setup.gate_passes', 'setup.transcript', 'setup.step_streaks', 'setup.support_cases']::regclass[]) AS rel;
GRANT USAGE ON SCHEMA setup TO trackai_console;
GRANT SELECT ON setup.gate_passes, setup.transcript, setup.step_streaks, setup.support_cases TO trackai_console;

-- Provisioning may run in Dagster (trackai_pipeline, sql/0531): it reads the gate, nothing else.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_pipeline') THEN
        GRANT USAGE ON SCHEMA setup TO trackai_pipeline;
        GRANT SELECT ON setup.gate_passes TO trackai_pipeline;
    END IF;
END
$$;
