-- Per-tenant limit for a whole group commit at once (issue 21).
--
-- landing.rate_limit_take(tenant, scope, window, n, shard) counts n hits in one go in the caller's shard
-- and returns the window's total after them: that shard's count with the n added, plus the other shards'
-- committed counts (as landing.rate_limit_hit reads it). The ingest writer lands a batch of rows with one
-- statement per table and calls it once per (tenant, scope) of the batch, in (tenant, scope) order (no
-- deadlock between batches); row k (1-based, in arrival order) of that tenant in the batch then sees
-- total - n + k hits, what k successive single hits would have returned. One upsert per tenant per batch
-- instead of one per row.
--
-- The shard is the worker's (its pid modulo 64), not the connection's: a worker's batches in flight on
-- several connections count in the same row, so the second waits for the first's commit and sees it
-- (exact within a worker), while workers still never wait on each other. Tolerance across workers as
-- sql/0900 states: a tenant can be admitted past its limit by at most the rows other workers hold
-- uncommitted at that moment (tests/ingest/test_rate_limit_take.py).
CREATE FUNCTION landing.rate_limit_take(
    p_tenant uuid, p_scope text, p_window_seconds integer, p_n integer, p_shard integer
)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, landing
AS $$
    WITH win AS (
        SELECT to_timestamp(floor(extract(epoch FROM now()) / p_window_seconds) * p_window_seconds) AS start,
               (abs(p_shard) % 64)::smallint AS shard
    ),
    mine AS (
        INSERT INTO landing.rate_limit_windows AS w (tenant_id, scope, window_start, shard, hits)
        SELECT p_tenant, p_scope, win.start, win.shard, greatest(p_n, 0) FROM win
        ON CONFLICT (tenant_id, scope, window_start, shard) DO UPDATE SET hits = w.hits + greatest(p_n, 0)
        RETURNING hits
    )
    SELECT (SELECT hits FROM mine) + coalesce((
        SELECT sum(w.hits)::integer
          FROM landing.rate_limit_windows w, win
         WHERE w.tenant_id = p_tenant AND w.scope = p_scope AND w.window_start = win.start
           AND w.shard <> win.shard), 0);
$$;
REVOKE ALL ON FUNCTION landing.rate_limit_take(uuid, text, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION landing.rate_limit_take(uuid, text, integer, integer, integer) TO trackai_app_rw;
