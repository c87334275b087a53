-- State owned by the Dagster micro-batch: purchases (current state of each order), matches,
-- the event_id registry, and the dispatch side (queue, attempts, DLQ, breaker, token status).
CREATE TABLE core.purchases (
    tenant_id           uuid NOT NULL REFERENCES core.tenants (tenant_id),
    gateway             text NOT NULL,
    order_id            text NOT NULL,
    event_id            text NOT NULL UNIQUE CHECK (event_id ~ '^[0-9a-f]{64}$'),
    status              text NOT NULL,
    approved_at         timestamptz,
    partition_date      date NOT NULL,
    amount              numeric(18, 4),
    currency            text,
    product_id          text,
    session_id          text,
    fbclid              text,
    fbc                 text,
    fbp                 text,
    client_ip           inet,
    user_agent          text,
    email_hash          text,
    phone_hash          text,
    first_conversion_id bigint NOT NULL,
    last_conversion_id  bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway, order_id)
);
CREATE INDEX purchases_partition_idx ON core.purchases (partition_date, tenant_id);

CREATE TABLE core.matches (
    tenant_id      uuid NOT NULL,
    gateway        text NOT NULL,
    order_id       text NOT NULL,
    click_id       bigint NOT NULL,
    stage          text NOT NULL CHECK (stage IN ('deterministic', 'semi_deterministic', 'probabilistic')),
    score          numeric(6, 4) NOT NULL CHECK (score BETWEEN 0 AND 1),
    matched_keys   text[] NOT NULL,
    fbc            text,
    fbp            text,
    client_ip      inet,
    user_agent     text,
    landing_url    text,
    external_id    text,
    partition_date date NOT NULL,
    matched_at     timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway, order_id),
    FOREIGN KEY (tenant_id, gateway, order_id) REFERENCES core.purchases (tenant_id, gateway, order_id)
);
CREATE INDEX matches_partition_idx ON core.matches (partition_date, tenant_id);

-- event_id = sha256 of a canonical string (trackai.core.event_id); unique forever.
CREATE TABLE core.dedupe_registry (
    event_id      text PRIMARY KEY CHECK (event_id ~ '^[0-9a-f]{64}$'),
    tenant_id     uuid NOT NULL,
    gateway       text NOT NULL,
    order_id      text NOT NULL,
    event_name    text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dedupe_registry_tenant_idx ON core.dedupe_registry (tenant_id, created_at);

CREATE TABLE ops.dispatch_queue (
    event_id        text PRIMARY KEY REFERENCES core.dedupe_registry (event_id),
    tenant_id       uuid NOT NULL,
    gateway         text NOT NULL,
    pixel_id        text NOT NULL,
    event_time      timestamptz NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dlq', 'blocked')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    deadline_at     timestamptz NOT NULL,
    sent_at         timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_queue_due_idx ON ops.dispatch_queue (next_attempt_at) WHERE status = 'pending';
CREATE INDEX dispatch_queue_tenant_status_idx ON ops.dispatch_queue (tenant_id, status);

CREATE TABLE ops.dispatch_attempts (
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    event_id      text NOT NULL,
    gateway       text NOT NULL,
    pixel_id      text NOT NULL,
    batch_id      uuid,
    attempt_no    integer NOT NULL CHECK (attempt_no >= 1),
    status        text NOT NULL CHECK (status IN ('success', 'retryable_error', 'fatal_error', 'invalid', 'expired', 'blocked')),
    http_status   integer,
    error_code    integer,
    error_subcode integer,
    error_message text,
    latency_ms    integer,
    fbtrace_id    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_attempts_tenant_status_time_idx ON ops.dispatch_attempts (tenant_id, status, created_at DESC);
CREATE INDEX dispatch_attempts_event_idx ON ops.dispatch_attempts (event_id);

CREATE TABLE ops.dlq (
    event_id      text PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    gateway       text NOT NULL,
    reason        text NOT NULL CHECK (reason IN ('invalid', 'meta_rejected', 'expired', 'token')),
    error_code    integer,
    error_subcode integer,
    error_title   text,
    error_message text,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz
);
CREATE INDEX dlq_tenant_idx ON ops.dlq (tenant_id, created_at) WHERE replayed_at IS NULL;

CREATE TABLE ops.circuit_breakers (
    tenant_id            uuid NOT NULL,
    pixel_id             text NOT NULL,
    state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    opened_at            timestamptz,
    last_failure_at      timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pixel_id)
);

-- Code 190 stops a tenant's sending until its token is replaced; also fed by the debug_token check.
CREATE TABLE ops.meta_token_status (
    tenant_id  uuid PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('ok', 'invalid', 'expiring')),
    error_code integer,
    message    text,
    expires_at timestamptz,
    checked_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Durable watermarks of the micro-batch (last landed row consumed per source).
CREATE TABLE ops.pipeline_watermarks (
    name       text PRIMARY KEY,
    value      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
