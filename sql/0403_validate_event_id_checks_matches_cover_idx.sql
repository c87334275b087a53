-- 1. Validate the event_id CHECKs added NOT VALID by 0402 (SHARE UPDATE EXCLUSIVE: reads and writes go on).
ALTER TABLE core.purchases VALIDATE CONSTRAINT purchases_event_id_check;
ALTER TABLE core.dedupe_registry VALIDATE CONSTRAINT dedupe_registry_event_id_check;

-- 2. Match-rate dashboard (analytics.v_match_rate_by_tenant, bench P5): one tenant's last 7 days joins that
-- tenant's purchases (index-only via purchases_tenant_partition_cover_idx, 0401) to core.matches. Without
-- this index the join read every match of the tenant from the heap (a bitmap heap scan over its whole
-- history: 35 of the 45 ms at 10 M dispatch rows / 1 M purchases); with it the matches side is an
-- index-only scan (~2 ms) and the plan stays a hash join, so full reads of the view are as cheap as before.
CREATE INDEX matches_tenant_key_cover_idx
    ON core.matches (tenant_id, gateway, order_id) INCLUDE (stage, click_id);

-- matches_partition_idx (0004) backs no query (the recompute path selects purchases by partition_date,
-- never matches) and is one more index written per match by every micro-batch (bench P2): drop it so the
-- write cost of core.matches stays as it was.
DROP INDEX core.matches_partition_idx;
