-- One row per tenant for the setup page: pixel, which secrets exist and when they changed (never their
-- values), and Meta token status from the dispatcher and the debug_token check.
select
    t.tenant_id,
    t.name as tenant_name,
    t.pixel_id,
    t.test_event_code,
    t.active,
    t.created_at,
    coalesce(
        (select jsonb_object_agg(s.kind, s.updated_at) from {{ source('console_core', 'tenant_secrets') }} as s
         where s.tenant_id = t.tenant_id),
        '{}'::jsonb
    ) as secrets_updated_at,
    k.status as meta_token_status,
    k.error_code as meta_token_error_code,
    k.expires_at as meta_token_expires_at,
    k.checked_at as meta_token_checked_at
from {{ source('core', 'tenants') }} as t
left join {{ source('console_ops', 'meta_token_status') }} as k on k.tenant_id = t.tenant_id
