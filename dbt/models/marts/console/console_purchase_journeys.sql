-- One row per purchase (order) with where it is on its way to Meta: the match (stage, keys, score, the
-- click's id and landing URL; the click itself is in console_clicks), the queue state and, when it failed
-- for good, the DLQ entry. `dispatch_state`:
--   not_approved (never paid) | waiting (paid, not queued yet) | pending | failed | sent | dlq
--   (macro console_dispatch_state).
-- The console filters on the raw columns (queue_status, attempts, match_stage...) so the planner can
-- drive from the right index; dispatch_state is what it shows.
select
    p.tenant_id,
    p.gateway,
    p.order_id,
    p.event_id,
    p.status as purchase_status,
    p.approved_at,
    p.partition_date,
    p.first_conversion_id,
    p.amount,
    p.currency,
    p.product_id,
    p.email_hash,
    p.phone_hash,
    p.created_at,
    p.updated_at,
    m.stage as match_stage,
    m.score as match_score,
    m.matched_keys,
    m.click_id,
    m.landing_url as click_landing_url,
    m.matched_at,
    q.status as queue_status,
    q.attempts,
    q.sent_at,
    q.next_attempt_at,
    q.deadline_at,
    q.last_error,
    d.reason as dlq_reason,
    d.error_code as dlq_error_code,
    d.error_subcode as dlq_error_subcode,
    d.error_title as dlq_error_title,
    d.error_message as dlq_error_message,
    d.created_at as dlq_created_at,
    d.replayed_at as dlq_replayed_at,
    case
        when p.approved_at is null then 'not_approved'
        when q.event_id is null then 'waiting'
        else {{ console_dispatch_state('q') }}
    end as dispatch_state
from {{ source('core', 'purchases') }} as p
left join {{ source('core', 'matches') }} as m
    on m.tenant_id = p.tenant_id and m.gateway = p.gateway and m.order_id = p.order_id
left join {{ source('ops', 'dispatch_queue') }} as q on q.event_id = p.event_id
left join {{ source('ops', 'dlq') }} as d on d.event_id = p.event_id
