-- trackai: as-connected-user
-- The seller console's database role (docs/console.md). It owns nothing, is no superuser and has no
-- BYPASSRLS, so row-level security (0602) decides every row it reads: the console sets the tenant of
-- each request with set_config('app.tenant_id', ..., true) inside the request's transaction.
-- Roles are cluster-wide: create it only when missing (another database on the server may have).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_console') THEN
        BEGIN
            CREATE ROLE trackai_console LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created concurrently by another database's migration
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO trackai_console', current_database());
END
$$;
