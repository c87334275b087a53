-- Successful, non-test CAPI attempts (contract C2): what Meta really accepted, read from the dispatch
-- attempts independently of the billing tables (the reconciliation's other side).
select
    attempt_id,
    tenant_id,
    event_id,
    created_at as accepted_at
from {{ source('ops', 'dispatch_attempts') }}
where status = 'success' and not is_test
