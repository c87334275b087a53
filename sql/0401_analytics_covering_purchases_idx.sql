-- Match-rate dashboard: make one tenant's last-7-days purchases an index-only scan (the join to
-- core.matches needs gateway and order_id; "approved" is approved_at IS NOT NULL).
CREATE INDEX purchases_tenant_partition_cover_idx
    ON core.purchases (tenant_id, partition_date) INCLUDE (approved_at, gateway, order_id);
DROP INDEX core.purchases_tenant_partition_idx;
