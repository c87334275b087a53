-- Indexed, bounded candidate lookups for the probabilistic matching stage (dagster_project/lib/batch.py):
-- clicks of one tenant from one /24 (IPv4) or /64 (IPv6) network in a time window, and the exact IP.
CREATE INDEX clicks_tenant_network_time_idx ON landing.clicks (
    tenant_id,
    network(set_masklen(client_ip, CASE WHEN family(client_ip) = 4 THEN 24 ELSE 64 END)),
    occurred_at DESC
) WHERE client_ip IS NOT NULL;
CREATE INDEX clicks_tenant_ip_time_idx ON landing.clicks (tenant_id, client_ip, occurred_at DESC)
    WHERE client_ip IS NOT NULL;
