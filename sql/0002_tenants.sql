-- Tenants (sellers) and their secrets. Secrets are never plaintext: either a Fernet token
-- (secret_ciphertext, key from TRACKAI_SECRET_KEY) or an AWS Secrets Manager reference (secret_ref).
CREATE TABLE core.tenants (
    tenant_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(btrim(name)) > 0),
    pixel_id        text NOT NULL CHECK (pixel_id ~ '^[0-9]{5,20}$'),
    test_event_code text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE core.tenant_secrets (
    tenant_id         uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('meta_token', 'perfectpay', 'hotmart', 'kiwify', 'stripe')),
    secret_ciphertext text,
    secret_ref        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind),
    CHECK ((secret_ciphertext IS NULL) <> (secret_ref IS NULL)),
    CHECK (secret_ciphertext IS NULL OR secret_ciphertext LIKE 'gAAAA%')
);

CREATE TABLE core.funnels (
    funnel_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    name               text NOT NULL,
    landing_url_prefix text,
    product_ids        text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX funnels_tenant_idx ON core.funnels (tenant_id);
