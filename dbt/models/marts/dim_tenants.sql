select
    tenant_id,
    tenant_name,
    pixel_id,
    is_active,
    created_at
from {{ ref('stg_core__tenants') }}
