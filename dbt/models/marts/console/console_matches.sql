-- The matched orders (one row per matched purchase). The purchases page lists unmatched purchases with
-- NOT EXISTS against this: the planner estimates an anti-join well, a NULL on a left join's side badly.
select
    tenant_id,
    gateway,
    order_id,
    stage as match_stage,
    click_id
from {{ source('core', 'matches') }}
