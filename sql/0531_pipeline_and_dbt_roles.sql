-- trackai: as-connected-user
-- Least privilege for Dagster and dbt (issue 22, finding 7). Until now both ran as the owner role.
-- trackai_pipeline: what Dagster connects as (TRACKAI_PIPELINE_DATABASE_URL): reads landing, writes the
--   micro-batch / verification / dispatch state (core.purchases..., ops.*). Grants in 0532.
-- trackai_dbt: what dbt connects as (TRACKAI_DBT_DATABASE_URL): reads its sources, writes only schema
--   analytics. Grants in 0532.
-- Both are plain LOGIN roles: no superuser, CREATEDB, CREATEROLE or BYPASSRLS. Passwords are the
-- operator's (ALTER ROLE ... PASSWORD), like the roles of 0001.
DO $$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['trackai_pipeline', 'trackai_dbt'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', wanted);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created concurrently by another database's migration
            END;
        END IF;
    END LOOP;
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO trackai_pipeline, trackai_dbt', current_database());
END
$$;

-- dbt's one schema (the new owner of a relation needs CREATE on its schema).
GRANT USAGE, CREATE ON SCHEMA analytics TO trackai_dbt;

-- dbt replaces its views and tables, which only their owner may do: hand what dbt built before (as
-- whichever login it had) to trackai_dbt. Needs a superuser or a member of both roles; otherwise a
-- warning names the relation to hand over by hand (docs/runbooks/token-rotation.md, "Database roles").
DO $$
DECLARE
    rel record;
BEGIN
    FOR rel IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
          FROM pg_class c
         WHERE c.relnamespace = 'analytics'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
           AND pg_get_userbyid(c.relowner) <> 'trackai_dbt'
    LOOP
        BEGIN
            EXECUTE format('ALTER %s %s OWNER TO trackai_dbt', rel.kind, rel.name);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot hand % to trackai_dbt; run ALTER % % OWNER TO trackai_dbt as a superuser',
                rel.name, rel.kind, rel.name;
        END;
    END LOOP;
END
$$;
