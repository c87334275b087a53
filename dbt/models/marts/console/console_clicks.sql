-- Landing clicks for a purchase's journey (the matched click: when, what kind, where). landing.clicks is
-- partitioned by day on occurred_at, so the console reads one click with a bounded occurred_at window.
select
    tenant_id,
    click_id,
    occurred_at,
    event_type,
    landing_url,
    referrer
from {{ source('landing', 'clicks') }}
