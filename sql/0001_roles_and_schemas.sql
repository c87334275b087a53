-- trackai: as-connected-user
-- Roles are cluster-wide: create them only when missing. Schemas and database grants are per database.
-- trackai_migration_admin owns every object (migrations SET ROLE to it);
-- trackai_app_rw is what the ingest service needs: INSERT/SELECT on landing, SELECT on tenants;
-- trackai_readonly_audit reads the analytics schema only.
DO $$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['trackai_migration_admin', 'trackai_app_rw', 'trackai_readonly_audit'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;
    EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO trackai_migration_admin', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO trackai_app_rw, trackai_readonly_audit', current_database());
END
$$;

-- The connected user must be able to act as the owner role when it is not a superuser.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND current_user <> 'trackai_migration_admin' THEN
        EXECUTE format('GRANT trackai_migration_admin TO %I', current_user);
    END IF;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

ALTER SCHEMA ops OWNER TO trackai_migration_admin;
ALTER TABLE ops.schema_migrations OWNER TO trackai_migration_admin;
CREATE SCHEMA IF NOT EXISTS landing AUTHORIZATION trackai_migration_admin;
CREATE SCHEMA IF NOT EXISTS core AUTHORIZATION trackai_migration_admin;
CREATE SCHEMA IF NOT EXISTS analytics AUTHORIZATION trackai_migration_admin;

COMMENT ON SCHEMA landing IS 'Append-only rows landed by the ingest service (clicks, webhooks, conversions).';
COMMENT ON SCHEMA core IS 'Tenants and pipeline state owned by Dagster (purchases, matches, dedupe registry).';
COMMENT ON SCHEMA ops IS 'Dispatch queue, attempts, DLQ, circuit breakers, watermarks, migrations.';
COMMENT ON SCHEMA analytics IS 'Owned by dbt: staging views, marts and metrics.';
