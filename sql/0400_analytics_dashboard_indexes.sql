-- Dashboard queries (bench/bench_dashboard.py): one tenant's last-7-days dispatch summary is an
-- index-only range scan on (tenant_id, created_at) carrying gateway, status and latency.
CREATE INDEX dispatch_attempts_tenant_time_cover_idx
    ON ops.dispatch_attempts (tenant_id, created_at) INCLUDE (gateway, status, latency_ms);

-- Match rate by tenant and day: purchases of one tenant over a date range.
CREATE INDEX purchases_tenant_partition_idx ON core.purchases (tenant_id, partition_date) INCLUDE (approved_at);
