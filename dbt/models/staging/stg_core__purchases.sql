select
    tenant_id,
    gateway,
    order_id,
    event_id,
    status,
    approved_at,
    partition_date,
    amount,
    currency,
    (approved_at is not null) as is_approved,
    test_reason,
    (test_reason is not null) as is_test,
    created_at,
    updated_at
from {{ source('core', 'purchases') }}
