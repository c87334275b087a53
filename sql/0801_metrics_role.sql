-- trackai: as-connected-user
-- The ops exporter's role (issue 20; trackai/ops_metrics.py, `trackai ops-exporter`): reads the counts and
-- states the dashboards and alert rules need, nothing else (column-level SELECT in 0802). A plain LOGIN role:
-- no superuser, CREATEDB, CREATEROLE or BYPASSRLS. Its password is the operator's (ALTER ROLE ... PASSWORD).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_metrics') THEN
        BEGIN
            CREATE ROLE trackai_metrics LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another database's migration
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO trackai_metrics', current_database());
END
$$;
