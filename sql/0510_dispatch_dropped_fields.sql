-- Optional browser ids (fbc, fbp) that fail Meta's grammar are dropped from the payload before sending,
-- never a reason to DLQ the purchase (issue 22, finding 1): the reasons are kept with the queued event.
ALTER TABLE ops.dispatch_queue ADD COLUMN dropped_fields text[];
COMMENT ON COLUMN ops.dispatch_queue.dropped_fields IS
    'optional fields removed from payload before sending, with the reason (trackai.dispatch.policy.prepare)';
