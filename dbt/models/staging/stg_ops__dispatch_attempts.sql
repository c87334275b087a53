select
    attempt_id,
    tenant_id,
    event_id,
    gateway,
    pixel_id,
    attempt_no,
    status as attempt_status,
    (status = 'success') as is_success,
    http_status,
    error_code,
    latency_ms,
    created_at
from {{ source('ops', 'dispatch_attempts') }}
