-- Every process checks for pending migrations at start (`trackai console`, the ingest /ready probe, the
-- Dagster code location). Least-privilege roles may neither create ops.schema_migrations (migrations.py's
-- bootstrap needs CREATE) nor read it; this function gives them the applied versions and checksums, read
-- only. It exposes no tenant data: version numbers, file checksums and timestamps of schema changes.
CREATE FUNCTION ops.migration_status()
RETURNS TABLE (version text, checksum text, applied_at text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, ops
AS $$
    SELECT m.version, m.checksum, m.applied_at::text FROM ops.schema_migrations m ORDER BY m.version;
$$;
REVOKE ALL ON FUNCTION ops.migration_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.migration_status() TO trackai_console, trackai_pipeline, trackai_dbt, trackai_metrics;
COMMENT ON FUNCTION ops.migration_status() IS
    'Applied migrations (version, checksum, applied_at) for roles that may not read ops.schema_migrations.';
