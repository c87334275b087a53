-- Least privilege. trackai_app_rw: INSERT/SELECT on landing tables, SELECT on tenants and their
-- secrets, EXECUTE on the rate-limit function; nothing else (no UPDATE, DELETE or DDL).
GRANT USAGE ON SCHEMA landing, core TO trackai_app_rw;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA landing TO trackai_app_rw;
REVOKE ALL ON landing.rate_limit_windows FROM trackai_app_rw;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA landing TO trackai_app_rw;
GRANT SELECT ON core.tenants, core.tenant_secrets TO trackai_app_rw;
REVOKE ALL ON FUNCTION landing.rate_limit_hit(uuid, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION landing.rate_limit_hit(uuid, text, integer) TO trackai_app_rw;
ALTER DEFAULT PRIVILEGES FOR ROLE trackai_migration_admin IN SCHEMA landing
    GRANT SELECT, INSERT ON TABLES TO trackai_app_rw;
ALTER DEFAULT PRIVILEGES FOR ROLE trackai_migration_admin IN SCHEMA landing
    GRANT USAGE ON SEQUENCES TO trackai_app_rw;

-- trackai_readonly_audit: SELECT on analytics only (dbt adds grants on the models it builds).
GRANT USAGE ON SCHEMA analytics TO trackai_readonly_audit;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO trackai_readonly_audit;
ALTER DEFAULT PRIVILEGES FOR ROLE trackai_migration_admin IN SCHEMA analytics
    GRANT SELECT ON TABLES TO trackai_readonly_audit;
