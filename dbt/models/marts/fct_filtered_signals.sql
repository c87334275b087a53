-- Per tenant and day (UTC): what the clean-signal filters of issue 23 kept away from matching, Meta and
-- billing (docs/privacy.md). Bot clicks are landed but never matched; consent-denied clicks landed without
-- identifiers; test purchases (gateway test deliveries, orders the seller marked, the seller's test
-- buyers) were never registered for dispatch.
with clicks as (
    select
        tenant_id,
        (occurred_at at time zone 'UTC')::date as metric_date,
        count(*) as clicks,
        count(*) filter (where bot_reason is not null) as bot_clicks,
        count(*) filter (where bot_reason = 'known_bot') as bot_known,
        count(*) filter (where bot_reason = 'headless') as bot_headless,
        count(*) filter (where bot_reason = 'automation') as bot_automation,
        count(*) filter (where bot_reason = 'blocked_network') as bot_blocked_network,
        count(*) filter (where bot_reason = 'impossible_rate') as bot_impossible_rate,
        count(*) filter (where consent_denied) as consent_denied_clicks
    from {{ source('landing', 'clicks') }}
    group by 1, 2
),
purchases as (
    select
        tenant_id,
        partition_date as metric_date,
        count(*) filter (where approved_at is not null) as approved_purchases,
        count(*) filter (where approved_at is not null and test_reason is not null) as test_purchases,
        count(*) filter (where approved_at is not null and test_reason = 'gateway_test') as test_gateway,
        count(*) filter (where approved_at is not null and test_reason = 'tenant_marked') as test_tenant_marked,
        count(*) filter (where approved_at is not null and test_reason = 'test_buyer') as test_buyer
    from {{ source('core', 'purchases') }}
    group by 1, 2
)
select
    coalesce(c.tenant_id, p.tenant_id) as tenant_id,
    coalesce(c.metric_date, p.metric_date) as metric_date,
    coalesce(c.clicks, 0) as clicks,
    coalesce(c.bot_clicks, 0) as bot_clicks,
    coalesce(c.bot_known, 0) as bot_known,
    coalesce(c.bot_headless, 0) as bot_headless,
    coalesce(c.bot_automation, 0) as bot_automation,
    coalesce(c.bot_blocked_network, 0) as bot_blocked_network,
    coalesce(c.bot_impossible_rate, 0) as bot_impossible_rate,
    coalesce(c.consent_denied_clicks, 0) as consent_denied_clicks,
    coalesce(p.approved_purchases, 0) as approved_purchases,
    coalesce(p.test_purchases, 0) as test_purchases,
    coalesce(p.test_gateway, 0) as test_gateway,
    coalesce(p.test_tenant_marked, 0) as test_tenant_marked,
    coalesce(p.test_buyer, 0) as test_buyer,
    {{ rate_pct("coalesce(c.bot_clicks, 0)", "coalesce(c.clicks, 0)") }} as bot_click_pct
from clicks c
full outer join purchases p on p.tenant_id = c.tenant_id and p.metric_date = c.metric_date
