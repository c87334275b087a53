-- Every verified gateway delivery that mapped to an order, oldest first per order: the first steps of a
-- purchase's journey (console purchase page).
select
    c.tenant_id,
    c.gateway,
    c.order_id,
    c.conversion_id,
    c.status,
    c.gateway_status,
    c.event_time,
    c.amount,
    c.currency,
    w.webhook_event_id,
    w.delivery_key,
    w.event_type,
    w.received_at
from {{ source('landing', 'conversions') }} as c
join {{ source('landing', 'webhook_events') }} as w on w.webhook_event_id = c.webhook_event_id
