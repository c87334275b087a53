select
    tenant_id,
    name as tenant_name,
    pixel_id,
    active as is_active,
    created_at
from {{ source('core', 'tenants') }}
