-- The dead-letter queue with what the console needs to explain and replay each entry: the order, the
-- queue state, the deadline, and whether Meta ever accepted the event (sent_at is stamped on the 2xx and
-- kept): such an event is never re-sent from the console.
select
    d.tenant_id,
    d.event_id,
    d.gateway,
    p.order_id,
    p.amount,
    p.currency,
    d.reason,
    d.error_code,
    d.error_subcode,
    d.error_title,
    d.error_message,
    d.created_at,
    d.replayed_at,
    q.status as queue_status,
    q.deadline_at,
    q.attempts,
    (q.sent_at is not null) as meta_accepted
from {{ source('ops', 'dlq') }} as d
left join {{ source('core', 'purchases') }} as p on p.event_id = d.event_id
left join {{ source('ops', 'dispatch_queue') }} as q on q.event_id = d.event_id
