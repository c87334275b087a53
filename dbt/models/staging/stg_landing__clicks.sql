select
    click_id,
    tenant_id,
    event_type,
    session_id,
    occurred_at,
    (occurred_at at time zone 'UTC')::date as occurred_date,
    fbclid,
    fbc,
    fbp,
    email_hash,
    phone_hash,
    external_id,
    created_at
from {{ source('landing', 'clicks') }}
