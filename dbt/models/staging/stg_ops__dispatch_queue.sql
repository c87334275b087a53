select
    event_id,
    tenant_id,
    gateway,
    pixel_id,
    event_time,
    payload -> 'user_data' as user_data,
    status as queue_status,
    attempts,
    sent_at,
    created_at,
    updated_at
from {{ source('ops', 'dispatch_queue') }}
