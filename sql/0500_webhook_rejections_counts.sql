-- Refused webhooks land as counts per minute (issue 22): one row per (minute, tenant, gateway, reason,
-- status) with `hits`, written by the ingest service's flusher instead of one row per refusal. `created_at`
-- is the minute the refusals happened in. Readers count sum(hits); rows written before this migration
-- are single refusals (hits = 1). Unknown tenants have tenant_id NULL and tenant_ref 'unknown', unknown
-- gateways are 'invalid' (so the table cannot grow with attacker-chosen path values).
-- The default is a constant: no table rewrite. The CHECK is NOT VALID (no scan; every old row is 1).
ALTER TABLE landing.webhook_rejections
    ADD COLUMN hits integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT webhook_rejections_hits_check CHECK (hits >= 1) NOT VALID;

COMMENT ON COLUMN landing.webhook_rejections.hits IS
    'Refusals this row counts (same minute, tenant, gateway, reason and status).';
