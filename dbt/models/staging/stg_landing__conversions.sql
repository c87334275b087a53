select
    conversion_id,
    webhook_event_id,
    tenant_id,
    gateway,
    order_id,
    status,
    event_time,
    amount,
    currency,
    product_id,
    session_id,
    created_at
from {{ source('landing', 'conversions') }}
