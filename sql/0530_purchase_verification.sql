-- Purchase verification before dispatch (issue 22, finding 3: forged purchases on static-token gateways).
-- trackai.verification writes one row per approved purchase; dispatch queues a purchase for Meta only when
-- its row is `dispatchable` for the exact amount/currency/product it will send (trackai.verification.store).

-- Sales-API credentials are tenant secrets of two new kinds (a JSON object, encrypted like the others).
ALTER TABLE core.tenant_secrets DROP CONSTRAINT tenant_secrets_kind_check;
ALTER TABLE core.tenant_secrets ADD CONSTRAINT tenant_secrets_kind_check
    CHECK (kind IN ('meta_token', 'perfectpay', 'hotmart', 'kiwify', 'stripe', 'hotmart_api', 'kiwify_api'));

-- What a funnel sells at what price. core.funnels.product_ids lists products; a row here adds a known price
-- in one currency (a priced product counts as sold by the funnel). Several rows: several currencies/offers.
ALTER TABLE core.funnels ADD CONSTRAINT funnels_tenant_funnel_key UNIQUE (tenant_id, funnel_id);
CREATE TABLE core.funnel_products (
    tenant_id  uuid NOT NULL,
    funnel_id  uuid NOT NULL,
    product_id text NOT NULL CHECK (length(product_id) BETWEEN 1 AND 200),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    price      numeric(18, 4) NOT NULL CHECK (price > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (funnel_id, product_id, currency, price),
    FOREIGN KEY (tenant_id, funnel_id) REFERENCES core.funnels (tenant_id, funnel_id) ON DELETE CASCADE
);

-- Per-tenant policy for purchases that cannot be verified; NULL = TRACKAI_VERIFY_UNVERIFIABLE_POLICY.
ALTER TABLE core.tenants ADD COLUMN unverifiable_policy text CHECK (unverifiable_policy IN ('send', 'hold'));

CREATE TABLE core.purchase_verifications (
    tenant_id        uuid NOT NULL,
    gateway          text NOT NULL,
    order_id         text NOT NULL,
    event_id         text NOT NULL,
    outcome          text NOT NULL
                     CHECK (outcome IN ('confirmed', 'plausible', 'signed', 'unverifiable', 'rejected', 'pending')),
    reason           text NOT NULL,
    method           text NOT NULL CHECK (method IN ('sales_api', 'funnel', 'signature', 'none')),
    dispatchable     boolean NOT NULL,
    amount           numeric(18, 4),
    currency         text,
    product_id       text,
    gateway_status   text,
    gateway_amount   numeric(18, 4),
    detail           text,
    attempts         integer NOT NULL DEFAULT 1,
    first_checked_at timestamptz NOT NULL,
    checked_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway, order_id),
    FOREIGN KEY (tenant_id, gateway, order_id) REFERENCES core.purchases (tenant_id, gateway, order_id),
    CHECK (NOT dispatchable OR outcome IN ('confirmed', 'plausible', 'signed', 'unverifiable'))
);
CREATE INDEX purchase_verifications_checked_idx ON core.purchase_verifications (checked_at);

COMMENT ON TABLE core.purchase_verifications IS
    'Verdict on each approved purchase before dispatch (trackai.verification.rules): outcome, reason, method.';
COMMENT ON COLUMN core.purchase_verifications.dispatchable IS
    'May be queued for Meta (outcome + the tenant''s unverifiable policy), for these amount/currency/product.';
