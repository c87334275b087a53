-- One row per event Meta accepted, with its ESTIMATED match quality (not Meta's score; trackai.core.emq).
-- The console reads recent windows of it by sent_at (the 48 h EMQ alarm).
select
    q.tenant_id,
    q.event_id,
    q.gateway,
    q.sent_at,
    {{ estimated_emq("q.payload -> 'user_data'") }} as estimated_emq
from {{ source('ops', 'dispatch_queue') }} as q
where q.status = 'sent'
