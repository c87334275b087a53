-- One row per event queued for Meta, with its ESTIMATED match quality (not Meta's EMQ).
select
    event_id,
    tenant_id,
    gateway,
    queue_status,
    event_time,
    sent_at,
    (sent_at at time zone 'UTC')::date as sent_date,
    attempts,
    {{ estimated_emq('user_data') }} as estimated_emq
from {{ ref('stg_ops__dispatch_queue') }}
