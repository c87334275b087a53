-- Per-tenant limit as leases: each ingest worker takes a tenant's budget from Postgres a chunk at a time
-- and spends it in memory (ingest_service/core/limits.TenantBudget), issue 21.
--
-- Before (sql/0900, sql/1500): every group-commit batch called landing.rate_limit_take once per tenant
-- and scope in it, an upsert plus a read of the other shards inside the batch's statement. At the
-- batch sizes real traffic gives (a few rows per tenant) that was about a quarter of the database's
-- work per row, and it tied each tenant to one writer lane. Now the batch statements carry no limit at
-- all; a worker calls landing.rate_limit_lease only when its leased tokens for that tenant and window run
-- out (a sixteenth of the limit first, then doubling, up to TRACKAI_RATE_LIMIT_LEASE_MAX per call).
--
-- landing.rate_limit_lease(tenant, scope, window_start, want, limit) grants min(want, limit - leased) and
-- records it, under the window row's lock (one row per tenant, scope and window, touched once per lease,
-- never held by a request's transaction). Tolerance across workers: never more than the limit admitted in
-- a window (grants add up to at most the limit); a request may be refused while other workers still hold
-- tokens they leased and have not spent (at most TRACKAI_RATE_LIMIT_LEASE_MAX each), and tokens leased by
-- a worker that dies are lost for the rest of that window (tests/ingest/test_rate_limit_lease.py).
-- The window is the caller's (aligned on its wall clock), so a worker's memory and its leases agree.
--
-- Leases count in their own row of landing.rate_limit_windows, shard -1 (the per-hit shards are 0..63).
-- Expand only: landing.rate_limit_hit and landing.rate_limit_take stay for workers of the previous release
-- during a rolling upgrade; they read every other shard, so old workers count leased tokens as hits, while
-- new workers do not see old workers' hits (while both run, a tenant can be admitted up to twice its limit
-- in a window). A later migration drops them.
CREATE FUNCTION landing.rate_limit_lease(
    p_tenant uuid, p_scope text, p_window_start timestamptz, p_want integer, p_limit integer
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, landing
AS $$
DECLARE
    leased integer;
    granted integer;
BEGIN
    INSERT INTO landing.rate_limit_windows (tenant_id, scope, window_start, shard, hits)
    VALUES (p_tenant, p_scope, p_window_start, -1, 0)
    ON CONFLICT (tenant_id, scope, window_start, shard) DO NOTHING;
    SELECT hits INTO leased FROM landing.rate_limit_windows
     WHERE tenant_id = p_tenant AND scope = p_scope AND window_start = p_window_start AND shard = -1
       FOR UPDATE;
    granted := least(greatest(p_want, 0), greatest(p_limit - leased, 0));
    IF granted > 0 THEN
        UPDATE landing.rate_limit_windows SET hits = hits + granted
         WHERE tenant_id = p_tenant AND scope = p_scope AND window_start = p_window_start AND shard = -1;
    END IF;
    RETURN granted;
END;
$$;
REVOKE ALL ON FUNCTION landing.rate_limit_lease(uuid, text, timestamptz, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION landing.rate_limit_lease(uuid, text, timestamptz, integer, integer) TO trackai_app_rw;
