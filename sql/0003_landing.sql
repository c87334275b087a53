-- Append-only rows the ingest service lands before it answers 2xx. PII arrives here only as
-- SHA-256 hex (email_hash, phone_hash); stored payloads are redacted copies.
CREATE TABLE landing.clicks (
    click_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES core.tenants (tenant_id),
    event_type   text NOT NULL DEFAULT 'click' CHECK (event_type IN ('click', 'pageview', 'lead')),
    session_id   text NOT NULL CHECK (length(session_id) BETWEEN 1 AND 200),
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    landing_url  text,
    referrer     text,
    fbclid       text,
    fbc          text,
    fbp          text,
    client_ip    inet,
    user_agent   text,
    email_hash   text CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    phone_hash   text CHECK (phone_hash ~ '^[0-9a-f]{64}$'),
    external_id  text,
    utm          jsonb NOT NULL DEFAULT '{}'::jsonb,
    funnel_id    uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clicks_tenant_session_idx ON landing.clicks (tenant_id, session_id, occurred_at DESC);
CREATE INDEX clicks_tenant_fbclid_idx ON landing.clicks (tenant_id, fbclid, occurred_at DESC) WHERE fbclid IS NOT NULL;
CREATE INDEX clicks_tenant_fbc_idx ON landing.clicks (tenant_id, fbc, occurred_at DESC) WHERE fbc IS NOT NULL;
CREATE INDEX clicks_tenant_time_idx ON landing.clicks (tenant_id, occurred_at DESC);
CREATE INDEX clicks_tenant_email_idx ON landing.clicks (tenant_id, email_hash) WHERE email_hash IS NOT NULL;
CREATE INDEX clicks_tenant_phone_idx ON landing.clicks (tenant_id, phone_hash) WHERE phone_hash IS NOT NULL;

-- Hashed email/phone seen for a session (a lead form, a click that carried them).
CREATE TABLE landing.identities (
    identity_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES core.tenants (tenant_id),
    session_id   text NOT NULL,
    click_id     bigint,
    email_hash   text CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    phone_hash   text CHECK (phone_hash ~ '^[0-9a-f]{64}$'),
    seen_at      timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (email_hash IS NOT NULL OR phone_hash IS NOT NULL)
);
CREATE INDEX identities_tenant_email_idx ON landing.identities (tenant_id, email_hash, seen_at DESC) WHERE email_hash IS NOT NULL;
CREATE INDEX identities_tenant_phone_idx ON landing.identities (tenant_id, phone_hash, seen_at DESC) WHERE phone_hash IS NOT NULL;
CREATE INDEX identities_tenant_session_idx ON landing.identities (tenant_id, session_id);

-- Every verified delivery, once: (tenant, gateway, delivery_key) is the gateway's idempotency key.
CREATE TABLE landing.webhook_events (
    webhook_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES core.tenants (tenant_id),
    gateway          text NOT NULL CHECK (gateway IN ('perfectpay', 'hotmart', 'kiwify', 'stripe')),
    delivery_key     text NOT NULL,
    event_type       text,
    payload_redacted jsonb NOT NULL,
    payload_sha256   text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, gateway, delivery_key)
);
CREATE INDEX webhook_events_received_idx ON landing.webhook_events (received_at);

-- Normalised purchases and status changes, one row per verified delivery that maps to an order.
CREATE TABLE landing.conversions (
    conversion_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_event_id bigint NOT NULL REFERENCES landing.webhook_events (webhook_event_id),
    tenant_id        uuid NOT NULL REFERENCES core.tenants (tenant_id),
    gateway          text NOT NULL CHECK (gateway IN ('perfectpay', 'hotmart', 'kiwify', 'stripe')),
    order_id         text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 200),
    status           text NOT NULL CHECK (status IN ('approved', 'pending', 'refunded', 'chargeback', 'canceled', 'other')),
    gateway_status   text,
    event_time       timestamptz NOT NULL,
    amount           numeric(18, 4) CHECK (amount >= 0),
    currency         text CHECK (currency ~ '^[A-Z]{3}$'),
    product_id       text,
    session_id       text,
    tracking         jsonb NOT NULL DEFAULT '{}'::jsonb,
    fbclid           text,
    fbc              text,
    fbp              text,
    client_ip        inet,
    user_agent       text,
    email_hash       text CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    phone_hash       text CHECK (phone_hash ~ '^[0-9a-f]{64}$'),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversions_tenant_order_idx ON landing.conversions (tenant_id, gateway, order_id);
CREATE INDEX conversions_event_time_idx ON landing.conversions (event_time);

-- Verified but unmappable bodies, encrypted (Fernet), kept for re-processing after a fix.
CREATE TABLE landing.webhook_quarantine (
    quarantine_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES core.tenants (tenant_id),
    gateway            text NOT NULL,
    delivery_key       text,
    payload_ciphertext text NOT NULL CHECK (payload_ciphertext LIKE 'gAAAA%'),
    error              text NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every refused webhook, counted for the success-rate alarm. tenant_ref is the raw path value.
CREATE TABLE landing.webhook_rejections (
    rejection_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_ref   text NOT NULL,
    tenant_id    uuid,
    gateway      text NOT NULL,
    reason       text NOT NULL,
    http_status  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_rejections_time_idx ON landing.webhook_rejections (created_at);
CREATE INDEX webhook_rejections_tenant_idx ON landing.webhook_rejections (tenant_id, created_at);

-- Fixed-window rate limit shared by every ingest worker. The app role may only call the function.
CREATE TABLE landing.rate_limit_windows (
    tenant_id    uuid NOT NULL,
    scope        text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (tenant_id, scope, window_start)
);

CREATE FUNCTION landing.rate_limit_hit(p_tenant uuid, p_scope text, p_window_seconds integer)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, landing
AS $$
    INSERT INTO landing.rate_limit_windows AS w (tenant_id, scope, window_start, hits)
    VALUES (p_tenant, p_scope,
            to_timestamp(floor(extract(epoch FROM now()) / p_window_seconds) * p_window_seconds), 1)
    ON CONFLICT (tenant_id, scope, window_start) DO UPDATE SET hits = w.hits + 1
    RETURNING hits;
$$;
