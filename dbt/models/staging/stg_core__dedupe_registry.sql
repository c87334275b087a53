select
    event_id,
    tenant_id,
    gateway,
    order_id,
    event_name,
    first_seen_at
from {{ source('core', 'dedupe_registry') }}
