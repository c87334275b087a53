-- What trackai_metrics may read (sql/0801): only the columns trackai/ops_metrics.py counts or compares;
-- never payloads, hashed user data, error texts or secrets.
GRANT USAGE ON SCHEMA ops, landing, core TO trackai_metrics;
GRANT SELECT (attempt_id, status, batch_id, latency_ms, created_at) ON ops.dispatch_attempts TO trackai_metrics;
GRANT SELECT (status, created_at) ON ops.dispatch_queue TO trackai_metrics;
GRANT SELECT (replayed_at) ON ops.dlq TO trackai_metrics;
GRANT SELECT (state) ON ops.circuit_breakers TO trackai_metrics;
GRANT SELECT (name, value) ON ops.pipeline_watermarks TO trackai_metrics;
GRANT SELECT (conversion_id, created_at) ON landing.conversions TO trackai_metrics;
GRANT SELECT (tenant_id, gateway, order_id, partition_date, approved_at) ON core.purchases TO trackai_metrics;
GRANT SELECT (tenant_id, gateway, order_id) ON core.matches TO trackai_metrics;
