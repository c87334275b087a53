-- One row per purchase (order) with its match, if any. Test purchases (gateway test deliveries, orders the
-- seller marked) are kept with is_test so the rates below can leave them out.
select
    p.tenant_id,
    p.gateway,
    p.order_id,
    p.event_id,
    p.partition_date,
    p.status,
    p.is_approved,
    p.is_test,
    p.test_reason,
    p.amount,
    p.currency,
    m.click_id,
    m.match_stage,
    m.match_score,
    (m.click_id is not null) as is_matched
from {{ ref('stg_core__purchases') }} as p
left join {{ ref('stg_core__matches') }} as m
    on m.tenant_id = p.tenant_id
    and m.gateway = p.gateway
    and m.order_id = p.order_id
