-- Provisioning (issue 17, docs/provisioning.md): per seller a Cloudflare CNAME {slug}.track.<base domain>
-- (proxied=false), a Stape server container and a GTM web container, created by a resumable saga.
--
-- provisioning.tenant_tracking  what exists for the tenant now (external ids, tagging server URL, GTM id);
--                               the snippet and setup pages read it.
-- provisioning.runs             one row per saga run (requested from the console or `trackai provision`).
-- provisioning.steps            one row per run and step: state, external ids, attempts, last error.
-- provisioning.approvals        a person approved the GTM workspace diff (who, when, which diff).
-- Every table is tenant-scoped and under the console policies (sql/0602): the console reads all four,
-- inserts a run request and an approval; Dagster (trackai_pipeline) runs the saga.
CREATE SCHEMA IF NOT EXISTS provisioning;

CREATE TABLE provisioning.tenant_tracking (
    tenant_id            uuid PRIMARY KEY REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    slug                 text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    hostname             text NOT NULL UNIQUE,
    cf_zone_id           text,
    dns_record_id        text,
    stape_container_id   text,
    tagging_server_url   text,
    gtm_account_id       text,
    gtm_container_id     text,
    gtm_public_id        text,
    gtm_workspace_id     text,
    published_version_id text,
    published_at         timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provisioning.runs (
    run_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    state          text NOT NULL DEFAULT 'requested'
                   CHECK (state IN ('requested', 'running', 'waiting', 'succeeded', 'failed',
                                    'rolling_back', 'rolled_back')),
    origin         text NOT NULL CHECK (origin IN ('cli', 'console', 'dagster')),
    requested_by   text NOT NULL,
    dagster_run_id text,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
-- At most one unfinished run per tenant: a second request resumes it instead of starting another saga.
CREATE UNIQUE INDEX runs_one_open_per_tenant ON provisioning.runs (tenant_id)
    WHERE state IN ('requested', 'running', 'waiting', 'rolling_back');
CREATE INDEX runs_tenant_created_idx ON provisioning.runs (tenant_id, created_at DESC);
CREATE INDEX runs_requested_idx ON provisioning.runs (created_at) WHERE state = 'requested';

CREATE TABLE provisioning.steps (
    run_id       uuid NOT NULL REFERENCES provisioning.runs (run_id) ON DELETE CASCADE,
    tenant_id    uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    step         text NOT NULL CHECK (step IN ('cloudflare_dns', 'stape_container', 'gtm_container',
                                               'gtm_workspace', 'gtm_publish')),
    position     smallint NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'blocked', 'failed', 'compensating',
                                  'compensated')),
    external_ids jsonb NOT NULL DEFAULT '{}',
    details      jsonb NOT NULL DEFAULT '{}',
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step)
);
CREATE INDEX steps_tenant_idx ON provisioning.steps (tenant_id);

CREATE TABLE provisioning.approvals (
    approval_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    gtm_workspace_path  text NOT NULL,
    diff_fingerprint    text NOT NULL CHECK (diff_fingerprint ~ '^[0-9a-f]{64}$'),
    diff                jsonb NOT NULL,
    approved_by         text NOT NULL CHECK (length(btrim(approved_by)) > 0),
    approved_by_user_id uuid,
    approved_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_tenant_idx ON provisioning.approvals (tenant_id, approved_at DESC);

SELECT console.enforce_tenant_rls(rel)
  FROM unnest(ARRAY['provisioning.tenant_tracking', 'provisioning.runs', 'provisioning.steps',
                    'provisioning.approvals']::regclass[]) AS rel;

-- The console: reads all four, requests a run, records a person's approval. Nothing else.
GRANT USAGE ON SCHEMA provisioning TO trackai_console;
GRANT SELECT ON provisioning.tenant_tracking, provisioning.runs, provisioning.steps, provisioning.approvals
   TO trackai_console;
GRANT INSERT ON provisioning.runs, provisioning.approvals TO trackai_console;

-- Dagster (the saga's job and its request sensor): the saga's state and the tenant's tracking row;
-- approvals are read, never written (only a person in the console approves).
GRANT USAGE ON SCHEMA provisioning TO trackai_pipeline;
GRANT SELECT, INSERT, UPDATE ON provisioning.tenant_tracking, provisioning.runs, provisioning.steps
   TO trackai_pipeline;
GRANT SELECT ON provisioning.approvals TO trackai_pipeline;
