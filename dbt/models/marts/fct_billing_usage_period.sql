-- Billable usage per tenant and period (São Paulo calendar month), from the daily mart.
select
    tenant_id,
    period,
    sum(billable_events) as billable_events,
    sum(accepted_events) as accepted_events,
    count(*) as active_days,
    min(usage_date) as first_day,
    max(usage_date) as last_day
from {{ ref('fct_billing_usage_daily') }}
group by 1, 2
