-- Micro-batch writes (bench P2): the event_id CHECK `event_id ~ '^[0-9a-f]{64}$'` of core.purchases and
-- core.dedupe_registry cost ~20-30 us per row (Postgres's regex engine expands the {64} bound into 64
-- NFA states), ~0.3 s of a 10,000-purchase micro-batch: more than any index on those tables.
-- Same rule, cheap form: exactly 64 characters and none outside [0-9a-f] (~1-2 us per row).
-- Added NOT VALID (no scan: the ACCESS EXCLUSIVE lock lasts a moment); new rows are checked at once and
-- 0403 validates the existing rows under SHARE UPDATE EXCLUSIVE (reads and writes go on).
ALTER TABLE core.purchases
    DROP CONSTRAINT purchases_event_id_check,
    ADD CONSTRAINT purchases_event_id_check
        CHECK (length(event_id) = 64 AND event_id !~ '[^0-9a-f]') NOT VALID;

ALTER TABLE core.dedupe_registry
    DROP CONSTRAINT dedupe_registry_event_id_check,
    ADD CONSTRAINT dedupe_registry_event_id_check
        CHECK (length(event_id) = 64 AND event_id !~ '[^0-9a-f]') NOT VALID;
