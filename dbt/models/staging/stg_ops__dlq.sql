select
    event_id,
    tenant_id,
    gateway,
    reason as dlq_reason,
    error_code,
    created_at,
    replayed_at,
    (replayed_at is null) as is_open
from {{ source('ops', 'dlq') }}
