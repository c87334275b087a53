-- Events not accepted by Meta yet: pending, failed and in the DLQ (macro console_dispatch_state). Small
-- by nature; the overview counts it for the current window.
select
    q.tenant_id,
    q.event_id,
    q.gateway,
    q.status as queue_status,
    q.attempts,
    q.event_time,
    q.next_attempt_at,
    q.deadline_at,
    q.last_error,
    {{ console_dispatch_state('q') }} as dispatch_state
from {{ source('ops', 'dispatch_queue') }} as q
where q.status in ('pending', 'blocked', 'dlq')
