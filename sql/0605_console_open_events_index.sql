-- Seller console (bench P7): the events Meta has not accepted yet - pending, held, in the DLQ - of one tenant,
-- newest first. The overview counts them for its window and the purchases page lists them by state; without
-- this index both visited every open row of the tenant (15 k at 1 M purchases: 0.2 s cold). Partial: only
-- the few unsent rows are indexed, so the dispatcher's writes of sent events do not pay for it.
CREATE INDEX dispatch_queue_tenant_open_idx
    ON ops.dispatch_queue (tenant_id, event_time) WHERE status IN ('pending', 'blocked', 'dlq');
