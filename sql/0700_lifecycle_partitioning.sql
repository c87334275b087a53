-- Data lifecycle (issue 19): native daily partitions for the append-only tables that grow without bound
-- (landing.clicks, landing.identities, landing.conversions, ops.dispatch_attempts), a registry of the days
-- archived to Parquet, and the few owner-side operations the Dagster role may call (docs/migrations.md,
-- "Daily partitions"; docs/backups.md). This file only defines; 0701-0704 move one table each, so each
-- move is its own transaction and its locks end with it.
--
-- Everything here lives in schema `lifecycle`, owned by trackai_migration_admin. Partition DDL needs the
-- owner, so Dagster (trackai_pipeline) reaches it only through SECURITY DEFINER functions that do one
-- thing each, as landing.rate_limit_hit does for the ingest role.
CREATE SCHEMA lifecycle AUTHORIZATION trackai_migration_admin;
COMMENT ON SCHEMA lifecycle IS 'Daily partitions, archive registry and retention guards (issue 19).';

-- Which tables are partitioned by day, on which column (UTC days).
CREATE TABLE lifecycle.partitioned_tables (
    parent        text PRIMARY KEY,                -- schema-qualified name, e.g. landing.clicks
    partition_key text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per (table, UTC day) exported to the archive. `verified_at` is set only after the Parquet object
-- read back through DuckDB equals the partition (row count and content checksum); a partition is dropped
-- only through lifecycle.drop_archived_partition, which refuses anything else.
CREATE TABLE lifecycle.archived_partitions (
    parent       text NOT NULL,
    day          date NOT NULL,
    object_key   text NOT NULL,
    row_count    bigint NOT NULL CHECK (row_count >= 0),
    checksum     text NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    exported_at  timestamptz NOT NULL DEFAULT now(),
    verified_at  timestamptz,
    verify_error text,
    dropped_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent, day)
);
COMMENT ON TABLE lifecycle.archived_partitions IS
    'Days exported to the Parquet archive (trackai.lifecycle.archive); verified_at NULL = not droppable.';

-- Name of the partition of `parent` holding `day` (landing.clicks, 2026-03-01 -> clicks_p20260301).
CREATE FUNCTION lifecycle.partition_name(p_parent regclass, p_day date) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT regexp_replace(c.relname, '__partitioned$', '') || '_p' || to_char(p_day, 'YYYYMMDD')
      FROM pg_class c WHERE c.oid = p_parent
$$;

-- Index name on a partition: the parent index's final name (without the _px suffix it carries while a
-- move is in flight) + the partition suffix, so plans name the parent's index (tests/foundation/test_indexes).
CREATE FUNCTION lifecycle.child_index_name(p_parent_index text, p_suffix text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT left(regexp_replace(p_parent_index, '_px$', ''), 62 - length(p_suffix)) || '_' || p_suffix
$$;

-- Create (or find) one partition of a daily-partitioned table and return its name. The partition is made
-- beside the parent with the parent's CHECKs and one index per parent index, then attached (Postgres
-- adopts matching indexes). Rows of that day waiting in the DEFAULT partition are moved into it first.
-- Partitions are reached through their parent only: their own grants are revoked (the parent's grants and
-- row-level security decide).
CREATE FUNCTION lifecycle.create_partition(p_parent regclass, p_day date) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp      text;
    rel      text;
    key      text;
    part     text;
    is_default boolean := p_day IS NULL;
    suffix   text;
    lo       timestamptz;
    hi       timestamptz;
    dflt     regclass;
    idx      record;
    grantee  record;
    moved    bigint := 0;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent;
    SELECT a.attname INTO key
      FROM pg_partitioned_table pt JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent;
    IF key IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table', p_parent;
    END IF;
    suffix := CASE WHEN is_default THEN 'default' ELSE 'p' || to_char(p_day, 'YYYYMMDD') END;
    part := regexp_replace(rel, '__partitioned$', '') || '_' || suffix;  -- a twin's partitions keep the final name
    IF to_regclass(format('%I.%I', nsp, part)) IS NOT NULL THEN
        RETURN part;
    END IF;

    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
                   nsp, part, p_parent);
    FOR idx IN
        SELECT i.indexrelid::regclass AS parent_index, ci.relname AS name, pg_get_indexdef(i.indexrelid) AS def
          FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
         WHERE i.indrelid = p_parent
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    LOOP
        EXECUTE regexp_replace(
            idx.def,
            '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ USING',
            format('CREATE \1INDEX %I ON %I.%I USING', lifecycle.child_index_name(idx.name, suffix), nsp, part));
    END LOOP;
    FOR grantee IN
        SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
         WHERE c.oid = format('%I.%I', nsp, part)::regclass AND a.grantee <> c.relowner
    LOOP
        IF grantee.grantee = 0 THEN
            EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', nsp, part);
        ELSE
            EXECUTE format('REVOKE ALL ON %I.%I FROM %I', nsp, part, pg_get_userbyid(grantee.grantee));
        END IF;
    END LOOP;

    IF is_default THEN
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I DEFAULT', p_parent, nsp, part);
        RETURN part;
    END IF;

    lo := p_day::timestamp AT TIME ZONE 'UTC';
    hi := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    SELECT i.inhrelid::regclass INTO dflt
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
    IF dflt IS NOT NULL THEN
        -- Same lock order as writers (parent, then partition); the default is locked only for the move.
        EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', p_parent);
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', dflt);
        EXECUTE format('WITH gone AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) '
                       'INSERT INTO %I.%I SELECT * FROM gone', dflt, key, key, nsp, part)
            USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, nsp, part, lo, hi);
    IF moved > 0 THEN
        RAISE NOTICE 'moved % rows of % from % into %', moved, p_day, dflt, part;
    END IF;
    RETURN part;
END
$$;

-- Partitions for today .. today + p_days_ahead (UTC) of every registered table, and one partition per day
-- found in a DEFAULT partition (rows landed for a day that had none yet). Returns the partitions created.
CREATE FUNCTION lifecycle.ensure_partitions(p_days_ahead integer, p_today date DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t       record;
    d       date;
    today   date := coalesce(p_today, (now() AT TIME ZONE 'UTC')::date);
    dflt    regclass;
    before  boolean;
    made    text;
BEGIN
    IF p_days_ahead < 0 OR p_days_ahead > 90 THEN
        RAISE EXCEPTION 'days ahead must be between 0 and 90, not %', p_days_ahead;
    END IF;
    FOR t IN SELECT parent, partition_key FROM lifecycle.partitioned_tables ORDER BY parent LOOP
        SELECT i.inhrelid::regclass INTO dflt
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = t.parent::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
        FOR d IN
            SELECT g::date FROM generate_series(today, today + p_days_ahead, interval '1 day') g
            UNION
            SELECT x.day FROM lifecycle.default_days(dflt, t.partition_key) x
        LOOP
            before := to_regclass(format('%s.%s', split_part(t.parent, '.', 1),
                                         lifecycle.partition_name(t.parent::regclass, d))) IS NOT NULL;
            made := lifecycle.create_partition(t.parent::regclass, d);
            IF NOT before THEN
                RETURN NEXT made;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- The UTC days present in a DEFAULT partition (none when there is no default).
CREATE FUNCTION lifecycle.default_days(p_default regclass, p_key text) RETURNS TABLE (day date)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_default IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format('SELECT DISTINCT (%I AT TIME ZONE ''UTC'')::date FROM %s', p_key, p_default);
END
$$;

-- The daily partitions of one table: name, UTC day (NULL for the default) and row estimate.
CREATE VIEW lifecycle.partitions AS
SELECT t.parent,
       n.nspname || '.' || c.relname AS partition,
       CASE WHEN pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' THEN NULL
            ELSE to_date(right(c.relname, 8), 'YYYYMMDD') END AS day,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
  FROM lifecycle.partitioned_tables t
  JOIN pg_inherits i ON i.inhparent = to_regclass(t.parent)
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace;

-- Retention: detach and drop one day of one table, only when its archive was verified and still accounts
-- for every row (a partition that changed after its export is refused: export it again). The caller sets
-- lock_timeout; DETACH needs a brief ACCESS EXCLUSIVE lock on the parent.
CREATE FUNCTION lifecycle.drop_archived_partition(p_parent text, p_day date) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rec   lifecycle.archived_partitions;
    part  regclass;
    rows_now bigint;
BEGIN
    SELECT * INTO rec FROM lifecycle.archived_partitions WHERE parent = p_parent AND day = p_day FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'refusing to drop % %: it was never archived', p_parent, p_day;
    END IF;
    IF rec.verified_at IS NULL THEN
        RAISE EXCEPTION 'refusing to drop % %: its archive is not verified (%)', p_parent, p_day,
            coalesce(rec.verify_error, 'not checked');
    END IF;
    part := to_regclass(format('%s_p%s', p_parent, to_char(p_day, 'YYYYMMDD')));
    IF part IS NULL THEN
        RETURN 0;  -- already dropped
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', part) INTO rows_now;
    IF rows_now <> rec.row_count THEN
        RAISE EXCEPTION 'refusing to drop % %: % rows now, % archived; export it again',
            p_parent, p_day, rows_now, rec.row_count;
    END IF;
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, part);
    EXECUTE format('DROP TABLE %s', part);
    UPDATE lifecycle.archived_partitions SET dropped_at = now() WHERE parent = p_parent AND day = p_day;
    RETURN rows_now;
END
$$;

-- The one-off move of an existing table into a daily-partitioned one (0701-0704), expand then contract in
-- one transaction:
--   expand   - a partitioned twin (same columns, defaults, identity, CHECKs, comments, grants, row-level
--              security and policies; every index and unique key, the partition key added to the
--              unique ones), one partition per day that has rows plus today .. +7 and a DEFAULT; then
--              the rows are copied under ACCESS SHARE only: writers go on meanwhile.
--   contract - EXCLUSIVE lock (reads go on, writes wait): rows committed during the copy are added (every
--              tuple whose inserting transaction was not yet visible to the copy); then a brief ACCESS
--              EXCLUSIVE lock: views on the old table are pointed at the new one, the old table is dropped,
--              the twin takes its name, its indexes and sequence take the old names, FKs and triggers are
--              re-created.
-- These tables are append-only (no role may UPDATE or DELETE them), which is what makes the delta exact.
-- A foreign key pointing AT the table, a materialized view or a rule on it stops the move with a message.
CREATE FUNCTION lifecycle.partition_by_day(p_table regclass, p_key text) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp      text;
    rel      text;
    owner    name;
    twin     text;
    twin_q   text;
    snap_xmin xid;
    copied   bigint;
    delta    bigint;
    r        record;
    cols     text;
    views    jsonb := '[]'::jsonb;
    v        jsonb;
    seq_old  text;
    seq_new  text;
    seq_last bigint;
    seq_called boolean;
    id_col   text;
    key_cols name[];
    d        date;
BEGIN
    SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) INTO nsp, rel, owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
    IF (SELECT relkind FROM pg_class WHERE oid = p_table) = 'p' THEN
        RAISE NOTICE '% is already partitioned', p_table;
        RETURN 0;
    END IF;
    FOR r IN SELECT conname, conrelid::regclass AS src FROM pg_constraint WHERE confrelid = p_table AND contype = 'f' LOOP
        RAISE EXCEPTION 'cannot partition %: foreign key % on % points at it (its unique key gains the partition key)',
            p_table, r.conname, r.src;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class c ON c.oid = w.ev_class
                WHERE d.refobjid = p_table AND d.classid = 'pg_rewrite'::regclass AND c.relkind = 'm') THEN
        RAISE EXCEPTION 'cannot partition %: a materialized view reads it; drop it first and re-create it after', p_table;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = p_table AND rulename <> '_RETURN') THEN
        RAISE EXCEPTION 'cannot partition %: it has rules', p_table;
    END IF;

    -- ------------------------------------------------------------------ expand
    twin := rel || '__partitioned';
    twin_q := format('%I.%I', nsp, twin);
    EXECUTE format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (%I)', twin_q, p_table, p_key);
    IF owner <> current_user THEN
        EXECUTE format('ALTER TABLE %s OWNER TO %I', twin_q, owner);
    END IF;
    EXECUTE format('COMMENT ON TABLE %s IS %L', twin_q, obj_description(p_table, 'pg_class'));
    -- Primary key and unique constraints, the partition key appended (temporary names until the swap).
    FOR r IN
        SELECT k.conname, k.contype,
               array_agg(a.attname ORDER BY u.ord) AS cols
          FROM pg_constraint k
          CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
         WHERE k.conrelid = p_table AND k.contype IN ('p', 'u')
         GROUP BY k.conname, k.contype
    LOOP
        key_cols := r.cols;
        IF NOT p_key = ANY (key_cols) THEN
            key_cols := key_cols || p_key::name;
        END IF;
        SELECT string_agg(quote_ident(c), ', ') INTO cols FROM unnest(key_cols) AS c;
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s (%s)', twin_q, r.conname || '_px',
                       CASE r.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, cols);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = p_table AND contype = 'x') THEN
        RAISE EXCEPTION 'cannot partition %: exclusion constraints are not carried over', p_table;
    END IF;
    -- Every other index, same definition (temporary names until the swap).
    FOR r IN
        SELECT ci.relname AS name, pg_get_indexdef(i.indexrelid) AS def
          FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
         WHERE i.indrelid = p_table
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    LOOP
        EXECUTE regexp_replace(r.def, '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ USING',
                               format('CREATE \1INDEX %I ON %s USING', r.name || '_px', twin_q));
    END LOOP;
    -- Grants (table and column level), row-level security and its policies.
    FOR r IN
        SELECT a.grantee, a.privilege_type, a.is_grantable
          FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = p_table AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s%s', r.privilege_type, twin_q,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r.grantee)) END,
                       CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR r IN
        SELECT att.attname, a.grantee, a.privilege_type
          FROM pg_attribute att, aclexplode(att.attacl) a
         WHERE att.attrelid = p_table AND att.attacl IS NOT NULL
    LOOP
        EXECUTE format('GRANT %s (%I) ON %s TO %s', r.privilege_type, r.attname, twin_q,
                       CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r.grantee)) END);
    END LOOP;
    IF (SELECT relrowsecurity FROM pg_class WHERE oid = p_table) THEN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', twin_q);
    END IF;
    IF (SELECT relforcerowsecurity FROM pg_class WHERE oid = p_table) THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', twin_q);
    END IF;
    FOR r IN
        SELECT p.polname, p.polpermissive, p.polcmd,
               pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS chk,
               ARRAY(SELECT CASE WHEN x = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x)) END
                       FROM unnest(p.polroles) x) AS roles
          FROM pg_policy p WHERE p.polrelid = p_table
    LOOP
        EXECUTE format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', r.polname, twin_q,
                       CASE WHEN r.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                       CASE r.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                       array_to_string(r.roles, ', '),
                       CASE WHEN r.qual IS NULL THEN '' ELSE format(' USING (%s)', r.qual) END,
                       CASE WHEN r.chk IS NULL THEN '' ELSE format(' WITH CHECK (%s)', r.chk) END);
    END LOOP;
    -- Partitions: every day with rows, today .. +7 (UTC) and a DEFAULT for anything else.
    FOR d IN
        EXECUTE format('SELECT DISTINCT (%I AT TIME ZONE ''UTC'')::date FROM %s
                        UNION SELECT g::date FROM generate_series((now() AT TIME ZONE ''UTC'')::date,
                                                                  (now() AT TIME ZONE ''UTC'')::date + 7,
                                                                  interval ''1 day'') g', p_key, p_table)
    LOOP
        PERFORM lifecycle.create_partition(twin_q::regclass, d);
    END LOOP;
    PERFORM lifecycle.create_partition(twin_q::regclass, NULL);
    -- Copy under ACCESS SHARE (writers go on). Remember the oldest transaction the copy could not see.
    snap_xmin := (pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)::text::xid;
    EXECUTE format('INSERT INTO %s OVERRIDING SYSTEM VALUE SELECT * FROM %s', twin_q, p_table);
    GET DIAGNOSTICS copied = ROW_COUNT;

    -- ------------------------------------------------------------------ contract
    EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', p_table);
    -- Tuples inserted by transactions the copy's snapshot did not see (frozen tuples are old: age is max).
    SELECT string_agg(format('t.%I = o.%I', a.attname, a.attname), ' AND ') INTO cols
      FROM pg_constraint k CROSS JOIN LATERAL unnest(k.conkey) AS u(attnum)
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
     WHERE k.conrelid = p_table AND k.contype = 'p';
    EXECUTE format('INSERT INTO %s OVERRIDING SYSTEM VALUE SELECT o.* FROM %s o WHERE age(o.xmin) <= age(%L::xid)'
                   ' AND NOT EXISTS (SELECT 1 FROM %s t WHERE %s)',
                   twin_q, p_table, snap_xmin, twin_q, coalesce(cols, 'false'));
    GET DIAGNOSTICS delta = ROW_COUNT;
    EXECUTE format('SELECT (SELECT count(*) FROM %s) - (SELECT count(*) FROM %s)', p_table, twin_q) INTO copied;
    IF copied <> 0 THEN
        RAISE EXCEPTION 'partitioning %: % rows differ after the copy; nothing was changed', p_table, copied;
    END IF;
    -- Views reading the old table, with fully qualified definitions (search_path is pg_catalog here).
    FOR r IN
        SELECT DISTINCT c.oid::regclass AS view, pg_get_viewdef(c.oid) AS def, c.reloptions
          FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class c ON c.oid = w.ev_class
         WHERE d.refobjid = p_table AND d.classid = 'pg_rewrite'::regclass AND c.oid <> p_table
    LOOP
        views := views || jsonb_build_object('view', r.view::text, 'def', r.def, 'options', r.reloptions);
    END LOOP;
    -- The identity sequence carries on where the old one stopped.
    SELECT a.attname INTO id_col FROM pg_attribute a
     WHERE a.attrelid = p_table AND a.attidentity <> '' AND NOT a.attisdropped;
    IF id_col IS NOT NULL THEN
        seq_old := pg_get_serial_sequence(p_table::text, id_col);
        seq_new := pg_get_serial_sequence(twin_q, id_col);
        EXECUTE format('SELECT last_value, is_called FROM %s', seq_old) INTO seq_last, seq_called;
        PERFORM setval(seq_new, seq_last, seq_called);
    END IF;
    -- Foreign keys and user triggers of the old table, re-created on the twin after the swap.
    CREATE TEMP TABLE lifecycle_carry (stmt text) ON COMMIT DROP;
    INSERT INTO lifecycle_carry
        SELECT format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', nsp, rel, conname, pg_get_constraintdef(oid))
          FROM pg_constraint WHERE conrelid = p_table AND contype = 'f';
    INSERT INTO lifecycle_carry
        SELECT regexp_replace(pg_get_triggerdef(oid), ' ON \S+ ', format(' ON %I.%I ', nsp, rel))
          FROM pg_trigger WHERE tgrelid = p_table AND NOT tgisinternal;

    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_table);
    EXECUTE format('ALTER TABLE %s RENAME TO %I', p_table, rel || '__unpartitioned');
    EXECUTE format('ALTER TABLE %s RENAME TO %I', twin_q, rel);
    FOR v IN SELECT * FROM jsonb_array_elements(views) LOOP
        BEGIN
            EXECUTE format('CREATE OR REPLACE VIEW %s AS %s', v->>'view', v->>'def');
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'cannot re-point view % at the partitioned %: the migration role is not a member of '
                            'its owner; GRANT that role TO trackai_migration_admin (or drop the view) and retry',
                            v->>'view', p_table;
        END;
        IF jsonb_typeof(v->'options') = 'array' THEN
            EXECUTE format('ALTER VIEW %s SET (%s)', v->>'view',
                           (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(v->'options') x));
        END IF;
    END LOOP;
    EXECUTE format('DROP TABLE %I.%I', nsp, rel || '__unpartitioned');
    FOR r IN SELECT stmt FROM lifecycle_carry LOOP
        EXECUTE r.stmt;
    END LOOP;
    DROP TABLE lifecycle_carry;
    -- Final names: constraints and indexes lose their _px suffix, the sequence takes the old name.
    FOR r IN SELECT conname FROM pg_constraint WHERE conrelid = format('%I.%I', nsp, rel)::regclass
                                                 AND conname LIKE '%\_px' LOOP
        EXECUTE format('ALTER TABLE %I.%I RENAME CONSTRAINT %I TO %I', nsp, rel, r.conname,
                       regexp_replace(r.conname, '_px$', ''));
    END LOOP;
    FOR r IN SELECT ci.relname FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid
              WHERE i.indrelid = format('%I.%I', nsp, rel)::regclass AND ci.relname LIKE '%\_px' LOOP
        EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', nsp, r.relname, regexp_replace(r.relname, '_px$', ''));
    END LOOP;
    IF id_col IS NOT NULL THEN
        EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', seq_new, split_part(seq_old, '.', 2));
    END IF;
    INSERT INTO lifecycle.partitioned_tables (parent, partition_key) VALUES (format('%I.%I', nsp, rel), p_key);
    RAISE NOTICE 'partitioned %.% by day on % into % partitions (% rows committed during the copy)', nsp, rel,
        p_key, (SELECT count(*) FROM pg_inherits WHERE inhparent = format('%I.%I', nsp, rel)::regclass), delta;
    RETURN delta;
END
$$;

-- Dagster (trackai_pipeline) keeps partitions ahead, reads the registry and records exports; it drops only
-- through the guard above. Roles from 0531 when present.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_pipeline') THEN
        GRANT USAGE ON SCHEMA lifecycle TO trackai_pipeline;
        GRANT SELECT ON lifecycle.partitioned_tables, lifecycle.partitions TO trackai_pipeline;
        GRANT SELECT, INSERT, UPDATE ON lifecycle.archived_partitions TO trackai_pipeline;
        GRANT EXECUTE ON FUNCTION lifecycle.ensure_partitions(integer, date) TO trackai_pipeline;
        GRANT EXECUTE ON FUNCTION lifecycle.drop_archived_partition(text, date) TO trackai_pipeline;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION lifecycle.create_partition(regclass, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION lifecycle.ensure_partitions(integer, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION lifecycle.drop_archived_partition(text, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION lifecycle.partition_by_day(regclass, text) FROM PUBLIC;
