select
    webhook_event_id,
    tenant_id,
    gateway,
    delivery_key,
    event_type,
    received_at,
    created_at
from {{ source('landing', 'webhook_events') }}
