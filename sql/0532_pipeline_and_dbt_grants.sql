-- Exactly what Dagster (trackai_pipeline) and dbt (trackai_dbt) need; roles in 0531. A new table that
-- the Dagster code writes or dbt reads needs its GRANT in the migration that creates it
-- (tests/security/test_least_privilege_roles.py runs a micro-batch, dispatch and dbt build as these roles).

-- trackai_pipeline: the micro-batch (fold, match, dedupe), verification, dispatch, alarms and sensors.
GRANT USAGE ON SCHEMA landing, core, ops TO trackai_pipeline;
-- landing: read only (the ingest service is the only writer).
GRANT SELECT ON ALL TABLES IN SCHEMA landing TO trackai_pipeline;
ALTER DEFAULT PRIVILEGES FOR ROLE trackai_migration_admin IN SCHEMA landing
    GRANT SELECT ON TABLES TO trackai_pipeline;
-- core: tenants, secrets (Meta token, sales-API credentials) and funnels are read only.
GRANT SELECT ON core.tenants, core.tenant_secrets, core.funnels, core.funnel_products TO trackai_pipeline;
GRANT SELECT, INSERT, UPDATE ON core.purchases, core.purchase_verifications TO trackai_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON core.matches TO trackai_pipeline;  -- stale matches are replaced
GRANT SELECT, INSERT ON core.dedupe_registry TO trackai_pipeline;
-- ops: dispatch state and the watermark (never the migration ledger).
GRANT SELECT, INSERT, UPDATE
    ON ops.dispatch_queue, ops.dlq, ops.circuit_breakers, ops.meta_token_status, ops.pipeline_watermarks
    TO trackai_pipeline;
GRANT SELECT, INSERT ON ops.dispatch_attempts TO trackai_pipeline;

-- trackai_dbt: reads its sources (dbt/models/**/_*sources.yml), writes schema analytics only (0531).
GRANT USAGE ON SCHEMA landing, core, ops TO trackai_dbt;
GRANT SELECT ON landing.clicks, landing.webhook_events, landing.conversions, landing.webhook_rejections,
                core.tenants, core.purchases, core.matches, core.dedupe_registry,
                ops.dispatch_queue, ops.dispatch_attempts, ops.dlq, ops.meta_token_status
    TO trackai_dbt;
-- The console's setup mart lists which secret kinds a tenant configured and when: never the secrets.
GRANT SELECT (tenant_id, kind, created_at, updated_at) ON core.tenant_secrets TO trackai_dbt;
