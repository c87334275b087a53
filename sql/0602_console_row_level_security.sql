-- Tenant isolation in the database for the seller console (docs/console.md, "Isolation").
--
-- console.enforce_tenant_rls(table) is the one definition of the policies; this migration applies it to
-- every tenant table the console reads, and the dbt marts that are tables call it in a post-hook
-- (dbt_project.yml, marts/console). On each table:
--   * RLS enabled and FORCED (the owner is subject to it too);
--   * console_tenant   (trackai_console, all commands): tenant_id = the request's app.tenant_id. A missing
--     or empty setting gives NULL, so a forgotten set_config fails closed: no rows;
--   * console_operator (trackai_console, SELECT only): the explicit operator bypass, app.operator = 'on';
--   * other_roles      (everyone else): unchanged access for every role that is not (a member of)
--     trackai_console: ingest, Dagster, dbt, migrations, audits. Their table privileges still decide.
-- The settings are read in sub-selects, evaluated once per query (not per row), so indexes leading with
-- tenant_id keep serving.
--
-- ops.dispatch_attempts is the one tenant table left without RLS: the dispatcher COPYs into it, and
-- PostgreSQL refuses COPY FROM into a table whose RLS applies to the copying role (trackai_pipeline,
-- sql/0531, has no BYPASSRLS). The console never reads it directly: console.dispatch_attempts_of(event_id)
-- returns one event's attempts under the same rule as the policies (tenant of the request, or the
-- explicit operator setting).
CREATE FUNCTION console.enforce_tenant_rls(rel regclass)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tenant_rule constant text := '(tenant_id = (SELECT nullif(current_setting(''app.tenant_id'', true), '''')::uuid))';
    operator_rule constant text := '((SELECT current_setting(''app.operator'', true)) = ''on'')';
    others_rule constant text := '((SELECT NOT pg_has_role(''trackai_console'', ''MEMBER'')))';
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', rel);
    EXECUTE format('DROP POLICY IF EXISTS console_tenant ON %s', rel);
    EXECUTE format('DROP POLICY IF EXISTS console_operator ON %s', rel);
    EXECUTE format('DROP POLICY IF EXISTS other_roles ON %s', rel);
    EXECUTE format('CREATE POLICY console_tenant ON %s FOR ALL TO trackai_console USING %s WITH CHECK %s',
                   rel, tenant_rule, tenant_rule);
    EXECUTE format('CREATE POLICY console_operator ON %s FOR SELECT TO trackai_console USING %s',
                   rel, operator_rule);
    EXECUTE format('CREATE POLICY other_roles ON %s FOR ALL TO PUBLIC USING %s WITH CHECK %s',
                   rel, others_rule, others_rule);
END
$$;
COMMENT ON FUNCTION console.enforce_tenant_rls(regclass) IS
    'Enable + force RLS on a table with tenant_id and (re)create the console policies (sql/0602).';

SELECT console.enforce_tenant_rls(rel)
  FROM unnest(ARRAY[
      'core.tenants', 'core.tenant_secrets', 'core.purchases', 'core.matches', 'core.dedupe_registry',
      'landing.clicks', 'landing.conversions', 'landing.webhook_events', 'landing.webhook_rejections',
      'ops.dispatch_queue', 'ops.dlq', 'ops.meta_token_status',
      'ops.meta_dataset_quality', 'console.audit_log'
  ]::regclass[]) AS rel;

CREATE FUNCTION console.dispatch_attempts_of(p_event_id text)
RETURNS TABLE (attempt_id bigint, attempt_no integer, status text, http_status integer, error_code integer,
               error_subcode integer, error_message text, latency_ms integer, fbtrace_id text,
               batch_id uuid, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, ops AS $$
    SELECT a.attempt_id, a.attempt_no, a.status, a.http_status, a.error_code, a.error_subcode, a.error_message,
           a.latency_ms, a.fbtrace_id, a.batch_id, a.created_at
      FROM ops.dispatch_attempts a
     WHERE a.event_id = p_event_id
       AND (a.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid
            OR current_setting('app.operator', true) = 'on')
     ORDER BY a.created_at, a.attempt_id;
$$;
REVOKE ALL ON FUNCTION console.dispatch_attempts_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION console.dispatch_attempts_of(text) TO trackai_console;

-- What the console role may touch. Reads: the tables behind the analytics.console_* marts (security_invoker
-- views read with the reader's rights; dbt grants SELECT on the marts themselves). Secrets: only which kinds
-- exist and when they changed, never the ciphertext. Writes: the DLQ replay (trackai.dispatch.replay
-- re-queues rows of ops.dispatch_queue and stamps ops.dlq) and the audit log.
GRANT USAGE ON SCHEMA core, landing, ops, console, analytics TO trackai_console;
GRANT SELECT ON core.tenants, core.purchases, core.matches, core.dedupe_registry,
                landing.clicks, landing.conversions, landing.webhook_events, landing.webhook_rejections,
                ops.dispatch_queue, ops.dlq, ops.meta_token_status,
                ops.meta_dataset_quality, console.audit_log
   TO trackai_console;
GRANT SELECT (tenant_id, kind, created_at, updated_at) ON core.tenant_secrets TO trackai_console;
GRANT UPDATE ON ops.dispatch_queue, ops.dlq TO trackai_console;
GRANT INSERT ON console.audit_log TO trackai_console;
-- dbt calls console.enforce_tenant_rls on the tables it builds, whatever role it runs as. USAGE only lets a
-- role name what is in the schema: its tables have no PUBLIC grants and its SECURITY DEFINER functions
-- are revoked from PUBLIC (0601).
GRANT USAGE ON SCHEMA console TO PUBLIC;

-- dbt (role trackai_dbt of 0531, when present) builds and tests the console marts; the security_invoker
-- views read with the reader's rights, so dbt needs the same narrow reads of the two inputs 0532 does not grant.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_dbt') THEN
        GRANT SELECT (tenant_id, kind, created_at, updated_at) ON core.tenant_secrets TO trackai_dbt;
        GRANT SELECT ON ops.meta_token_status TO trackai_dbt;
    END IF;
END
$$;
