-- Per-tenant rate limit without one hot row per tenant (issue 21).
--
-- Before: every request of a tenant updated the tenant's single window row and held its lock until its
-- transaction committed, so one tenant's requests serialised across every worker. Now each database
-- connection counts in its own shard row (backend pid modulo 64) and reads the other shards' committed
-- counts: concurrent transactions no longer wait on each other (two connections share a shard only when
-- their pids collide modulo 64, and then only those two wait).
--
-- Tolerance: a shard's uncommitted increments are invisible to the other connections, so a tenant can
-- be admitted past its limit by at most the rows in transactions still open on other connections at
-- that moment (at most: pool connections x rows per group commit, per worker). The limit is a cost and
-- abuse guard of the order of thousands per minute; tests/ingest/test_rate_limit_shards.py states and
-- checks the bound. Same signature, same grants (sql/0005): the ingest role still only calls it.
ALTER TABLE landing.rate_limit_windows ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE landing.rate_limit_windows DROP CONSTRAINT rate_limit_windows_pkey;
ALTER TABLE landing.rate_limit_windows ADD PRIMARY KEY (tenant_id, scope, window_start, shard);

CREATE OR REPLACE FUNCTION landing.rate_limit_hit(p_tenant uuid, p_scope text, p_window_seconds integer)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, landing
AS $$
    WITH win AS (
        SELECT to_timestamp(floor(extract(epoch FROM now()) / p_window_seconds) * p_window_seconds) AS start,
               (pg_backend_pid() % 64)::smallint AS shard
    ),
    mine AS (
        INSERT INTO landing.rate_limit_windows AS w (tenant_id, scope, window_start, shard, hits)
        SELECT p_tenant, p_scope, win.start, win.shard, 1 FROM win
        ON CONFLICT (tenant_id, scope, window_start, shard) DO UPDATE SET hits = w.hits + 1
        RETURNING hits
    )
    -- The statement's own insert is not visible to its read: add this shard's count, read the others.
    SELECT (SELECT hits FROM mine) + coalesce((
        SELECT sum(w.hits)::integer
          FROM landing.rate_limit_windows w, win
         WHERE w.tenant_id = p_tenant AND w.scope = p_scope AND w.window_start = win.start
           AND w.shard <> win.shard), 0);
$$;
