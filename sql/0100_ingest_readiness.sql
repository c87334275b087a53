-- The ingest service's /ready compares applied migrations with the files it ships. The app role
-- has no access to the ops schema, so it reads only the applied versions through this function.
CREATE FUNCTION landing.applied_migrations()
RETURNS SETOF text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, ops
AS $$
    SELECT version FROM ops.schema_migrations ORDER BY version;
$$;
REVOKE ALL ON FUNCTION landing.applied_migrations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION landing.applied_migrations() TO trackai_app_rw;
