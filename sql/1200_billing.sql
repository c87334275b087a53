-- Billing (issue 18, docs/billing.md): plans, effective-dated subscriptions, the PII-free usage ledger and
-- its per-period counter (contract C2), and the append-only audit trail billing.billing_events.
--
-- Billable usage (C2) = distinct event_ids Meta accepted (a success attempt, not is_test) per tenant and
-- São Paulo calendar month. The dispatcher inserts one ledger row per event_id the first time Meta accepts
-- it and bumps the counter in the SAME transaction that records the success (trackai.dispatch.quota), so
-- retries, gateway duplicates, backfills and DLQ replays of an event_id never count twice:
-- PRIMARY KEY (tenant_id, event_id). LGPD deletion (C3) never touches these rows (no PII in them).
CREATE SCHEMA billing AUTHORIZATION trackai_migration_admin;
COMMENT ON SCHEMA billing IS 'Plans, subscriptions, usage ledger and counters, append-only billing audit trail.';

CREATE TABLE billing.plans (
    plan_code            text PRIMARY KEY CHECK (plan_code ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name                 text NOT NULL,
    monthly_quota        bigint NOT NULL CHECK (monthly_quota > 0),
    base_price_brl       numeric(12, 2) NOT NULL CHECK (base_price_brl >= 0),
    overage_per_1000_brl numeric(12, 2) NOT NULL CHECK (overage_per_1000_brl >= 0),
    policy               text NOT NULL CHECK (policy IN ('warn', 'block')),
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Effective-dated: the subscription in force at t is the one with the latest effective_at <= t. A change is
-- a new row (never an UPDATE). The plan's terms are copied so a later edit of the plan never rewrites history.
CREATE TABLE billing.subscriptions (
    subscription_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES core.tenants (tenant_id) ON DELETE CASCADE,
    plan_code            text NOT NULL REFERENCES billing.plans (plan_code),
    plan_name            text NOT NULL,
    monthly_quota        bigint NOT NULL CHECK (monthly_quota > 0),
    base_price_brl       numeric(12, 2) NOT NULL CHECK (base_price_brl >= 0),
    overage_per_1000_brl numeric(12, 2) NOT NULL CHECK (overage_per_1000_brl >= 0),
    policy               text NOT NULL CHECK (policy IN ('warn', 'block')),
    effective_at         timestamptz NOT NULL,
    actor                text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, effective_at)
);

CREATE TABLE billing.usage_ledger (
    tenant_id   uuid NOT NULL,
    event_id    text NOT NULL CHECK (event_id ~ '^[0-9a-f]{64}$'),
    period      text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    accepted_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX usage_ledger_period_idx ON billing.usage_ledger (tenant_id, period, accepted_at);

-- The cheap counter the dispatcher reads: used = count of the ledger rows of (tenant, period), kept equal
-- by the one function that writes both (trackai.billing.ledger.record_accepted).
CREATE TABLE billing.usage_counters (
    tenant_id  uuid NOT NULL,
    period     text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    used       bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period)
);

CREATE TABLE billing.billing_events (
    billing_event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    period           text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    kind             text NOT NULL CHECK (kind IN ('plan_change', 'threshold', 'block', 'release', 'quota_dlq',
                                                   'period_close', 'invoice')),
    threshold_pct    integer CHECK (threshold_pct IN (80, 100)),
    quota            bigint,
    used             bigint,
    details          jsonb NOT NULL DEFAULT '{}',
    actor            text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'threshold') = (threshold_pct IS NOT NULL))
);
CREATE INDEX billing_events_tenant_idx ON billing.billing_events (tenant_id, period, created_at DESC);
-- Once per threshold per period (for the quota in force): the notifier sends only when this insert wins.
CREATE UNIQUE INDEX billing_events_threshold_once_idx
    ON billing.billing_events (tenant_id, period, threshold_pct, quota) WHERE kind = 'threshold';
CREATE UNIQUE INDEX billing_events_close_once_idx
    ON billing.billing_events (tenant_id, period, kind) WHERE kind IN ('period_close', 'invoice');

-- Append-only for everyone, the owner included: the ledger and the audit trail refuse UPDATE, DELETE and
-- TRUNCATE (the grants below give the app roles no UPDATE/DELETE either; this catches the owner too).
CREATE FUNCTION billing.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing.% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER billing_events_append_only BEFORE UPDATE OR DELETE ON billing.billing_events
    FOR EACH ROW EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER billing_events_no_truncate BEFORE TRUNCATE ON billing.billing_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER usage_ledger_append_only BEFORE UPDATE OR DELETE ON billing.usage_ledger
    FOR EACH ROW EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER usage_ledger_no_truncate BEFORE TRUNCATE ON billing.usage_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- Quota hold (policy 'block'): held events stay queued as 'quota_held' until the plan allows; past Meta's
-- window they go to the DLQ with reason 'quota'.
ALTER TABLE ops.dispatch_queue DROP CONSTRAINT dispatch_queue_status_check;
ALTER TABLE ops.dispatch_queue ADD CONSTRAINT dispatch_queue_status_check
    CHECK (status IN ('pending', 'sent', 'dlq', 'blocked', 'quota_held'));
CREATE INDEX dispatch_queue_quota_held_idx ON ops.dispatch_queue (tenant_id, event_time) WHERE status = 'quota_held';
ALTER TABLE ops.dlq DROP CONSTRAINT dlq_reason_check;
ALTER TABLE ops.dlq ADD CONSTRAINT dlq_reason_check
    CHECK (reason IN ('invalid', 'meta_rejected', 'expired', 'token', 'quota'));

-- The seller console reads its tenant's subscriptions, counters, ledger and audit trail (sql/0602 policies);
-- plans have no tenant_id, so the console reads the terms copied into billing.subscriptions.
SELECT console.enforce_tenant_rls(rel)
  FROM unnest(ARRAY['billing.subscriptions', 'billing.usage_ledger', 'billing.usage_counters',
                    'billing.billing_events']::regclass[]) AS rel;
GRANT USAGE ON SCHEMA billing TO trackai_console;
GRANT SELECT ON billing.subscriptions, billing.usage_counters, billing.usage_ledger, billing.billing_events
   TO trackai_console;

-- Dagster's dispatch (trackai_pipeline) writes the ledger, the counters and the audit trail; reconciliation
-- reads them. dbt (trackai_dbt) reads the ledger for the usage marts.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_pipeline') THEN
        GRANT USAGE ON SCHEMA billing TO trackai_pipeline;
        GRANT SELECT ON billing.plans, billing.subscriptions TO trackai_pipeline;
        GRANT SELECT, INSERT ON billing.usage_ledger, billing.billing_events TO trackai_pipeline;
        GRANT SELECT, INSERT, UPDATE ON billing.usage_counters TO trackai_pipeline;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trackai_dbt') THEN
        GRANT USAGE ON SCHEMA billing TO trackai_dbt;
        GRANT SELECT ON billing.usage_ledger, billing.usage_counters TO trackai_dbt;
    END IF;
END
$$;
