select
    rejection_id,
    tenant_ref,
    tenant_id,
    gateway,
    reason,
    http_status,
    created_at
from {{ source('landing', 'webhook_rejections') }}
