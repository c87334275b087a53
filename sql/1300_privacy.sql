-- LGPD and clean signals (issue 23, docs/privacy.md): data-subject requests and their log, each tenant's
-- privacy settings (consent required, blocked data-centre networks, test buyers), orders a tenant marks
-- as tests, and the flags the ingest service sets on what it lands (bot clicks, clicks without consent,
-- gateway test deliveries) so the micro-batch keeps them away from matching, Meta and billing.
CREATE SCHEMA privacy AUTHORIZATION trackai_migration_admin;
COMMENT ON SCHEMA privacy IS 'LGPD: data-subject request log, tenant privacy settings, test orders (issue 23).';

-- One row per tenant that changed a default. No row = consent not required, nothing blocked, no test buyers.
CREATE TABLE privacy.tenant_settings (
    tenant_id         uuid PRIMARY KEY REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    consent_required  boolean NOT NULL DEFAULT false,
    blocked_networks  cidr[] NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_networks) <= 500),
    -- SHA-256 (trackai.core.pii) of the emails/phones the seller buys with to test the checkout: their
    -- orders are test orders (never sent to Meta, never billed).
    test_email_hashes text[] NOT NULL DEFAULT '{}' CHECK (cardinality(test_email_hashes) <= 100),
    test_phone_hashes text[] NOT NULL DEFAULT '{}' CHECK (cardinality(test_phone_hashes) <= 100),
    updated_by        text NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Orders the tenant marked as tests (before the micro-batch registers them: a registered event keeps its
-- tombstone and, once sent, cannot be withdrawn from Meta).
CREATE TABLE privacy.test_orders (
    tenant_id  uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    gateway    text NOT NULL,
    order_id   text NOT NULL CHECK (length(order_id) BETWEEN 1 AND 200),
    marked_by  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway, order_id)
);

-- The request log (LGPD Arts. 18-19): one row per data-subject request, answered within 15 days.
-- The subject is never stored in plaintext nor as the SHA-256 the data is keyed by: subject_digest is an
-- HMAC (TRACKAI_SECRET_KEY) of it, enough to recognise a repeated request, useless to find the buyer's rows.
CREATE TABLE privacy.requests (
    request_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    subject_kind   text NOT NULL CHECK (subject_kind IN ('email', 'phone')),
    subject_digest text NOT NULL CHECK (subject_digest ~ '^[0-9a-f]{64}$'),
    state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'exported', 'erased', 'rejected')),
    received_at    timestamptz NOT NULL DEFAULT now(),
    deadline_at    timestamptz NOT NULL,
    opened_by      text NOT NULL,
    exported_at    timestamptz,
    exported_by    text,
    erased_at      timestamptz,
    erased_by      text,
    summary        jsonb NOT NULL DEFAULT '{}',
    alerted_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (deadline_at > received_at)
);
CREATE INDEX requests_open_deadline_idx ON privacy.requests (deadline_at) WHERE state IN ('open', 'exported');
CREATE INDEX requests_tenant_idx ON privacy.requests (tenant_id, received_at DESC);

-- Who did what on a request, in order (opened, exported, erased, alerted, rejected).
CREATE TABLE privacy.request_events (
    event_no   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES privacy.requests (request_id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    action     text NOT NULL CHECK (action IN ('opened', 'exported', 'erased', 'alerted', 'rejected')),
    actor      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_events_request_idx ON privacy.request_events (request_id, event_no);

-- Flags set at ingest (trackai.core.bots, trackai.core.consent). Kept rows, never matched, never counted.
ALTER TABLE landing.clicks
    ADD COLUMN bot_reason text CHECK (bot_reason IS NULL OR bot_reason IN
        ('known_bot', 'headless', 'automation', 'blocked_network', 'impossible_rate')),
    ADD COLUMN consent_denied boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN landing.clicks.bot_reason IS 'Why ingest flagged the click as a bot (kept, never matched).';
COMMENT ON COLUMN landing.clicks.consent_denied IS
    'Landed without consent under the tenant''s consent-required setting: no identifiers were stored.';
-- A gateway test/sandbox delivery (Stripe livemode=false, ...; trackai.core.gateways).
ALTER TABLE landing.conversions ADD COLUMN is_test boolean NOT NULL DEFAULT false;
-- Why a purchase is a test order (gateway_test, tenant_marked, test_buyer): never registered for dispatch.
ALTER TABLE core.purchases ADD COLUMN test_reason text
    CHECK (test_reason IS NULL OR test_reason IN ('gateway_test', 'tenant_marked', 'test_buyer'));

-- Console: operators see the request log; sellers see their own tenant's log and settings (RLS of 0602).
SELECT console.enforce_tenant_rls(rel)
  FROM unnest(ARRAY['privacy.tenant_settings', 'privacy.test_orders', 'privacy.requests',
                    'privacy.request_events']::regclass[]) AS rel;
GRANT USAGE ON SCHEMA privacy TO trackai_console;
GRANT SELECT ON privacy.tenant_settings, privacy.test_orders, privacy.requests, privacy.request_events
    TO trackai_console;

-- Ingest (trackai_app_rw) reads each tenant's settings with the tenant (consent, blocked networks).
GRANT USAGE ON SCHEMA privacy TO trackai_app_rw;
GRANT SELECT ON privacy.tenant_settings TO trackai_app_rw;

-- Dagster (trackai_pipeline): the micro-batch reads test markers; the privacy domain reads the log, stamps
-- the alarm and expires quarantined bodies past their retention.
GRANT USAGE ON SCHEMA privacy TO trackai_pipeline;
GRANT SELECT ON privacy.tenant_settings, privacy.test_orders TO trackai_pipeline;
GRANT SELECT, UPDATE (alerted_at, updated_at) ON privacy.requests TO trackai_pipeline;
GRANT SELECT, INSERT ON privacy.request_events TO trackai_pipeline;
GRANT DELETE ON landing.webhook_quarantine TO trackai_pipeline;

-- dbt: the filtered counts mart reads the flags (landing.clicks, landing.conversions, core.purchases are
-- already granted by 0532).
