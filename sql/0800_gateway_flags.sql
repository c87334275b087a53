-- Per-tenant, per-gateway rollout flags (issue 20; trackai.feature_flags, `trackai flags`, docs/api-policy.md).
-- A disabled gateway's webhooks are answered 403 (code gateway_disabled) after authentication and land
-- nothing; the gateway keeps retrying, so deliveries refused while a flag is off arrive once it is on.
-- A row with tenant_id NULL is the default for every tenant (e.g. a new gateway shipped disabled); a
-- tenant's own row wins over it; no row at all means enabled, so existing tenants are unaffected.
-- Gateway names are checked against the adapters by the library, not here: a flag may be set before the
-- gateway's adapter ships.
CREATE TABLE core.gateway_flags (
    flag_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    gateway    text NOT NULL CHECK (gateway ~ '^[a-z][a-z0-9_]{1,39}$'),
    enabled    boolean NOT NULL,
    reason     text CHECK (reason IS NULL OR length(reason) <= 200),
    updated_by text NOT NULL DEFAULT current_user,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX gateway_flags_tenant_uq ON core.gateway_flags (tenant_id, gateway) WHERE tenant_id IS NOT NULL;
CREATE UNIQUE INDEX gateway_flags_default_uq ON core.gateway_flags (gateway) WHERE tenant_id IS NULL;
COMMENT ON TABLE core.gateway_flags IS
    'Rollout flags per (tenant, gateway); tenant_id NULL = default for all tenants; no row = enabled.';

-- The ingest service reads the flags with the tenant's secrets (one query, cached like them).
GRANT SELECT ON core.gateway_flags TO trackai_app_rw;
