-- Query paths of the seller console (console/queries.py; bench/bench_console.py measures them at 1 M purchases).
-- Every predicate the console sends is a leakproof comparison on a plain column, so the planner may use
-- these indexes beneath the row-level security quals (0602).

-- Purchases page: one tenant's purchases newest first (purchase day, then arrival order), paginated by
-- keyset on (partition_date, first_conversion_id); a date filter is a range of the same index.
CREATE INDEX purchases_tenant_day_arrival_idx
    ON core.purchases (tenant_id, partition_date, first_conversion_id);

-- Buyer search: the e-mail or phone typed in the console is normalised and hashed like ingest does
-- (trackai.core.pii) and looked up here; the plaintext never reaches the database.
CREATE INDEX purchases_tenant_email_idx ON core.purchases (tenant_id, email_hash) WHERE email_hash IS NOT NULL;
CREATE INDEX purchases_tenant_phone_idx ON core.purchases (tenant_id, phone_hash) WHERE phone_hash IS NOT NULL;

-- Overview and match quality: events Meta accepted in the last day(s) (live metrics, the 48 h EMQ alarm).
CREATE INDEX dispatch_queue_tenant_sent_idx ON ops.dispatch_queue (tenant_id, sent_at) WHERE status = 'sent';
