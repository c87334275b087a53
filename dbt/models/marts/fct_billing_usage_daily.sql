{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['tenant_id', 'usage_date'],
    on_schema_change='append_new_columns',
    tags=['daily']
  )
}}
-- Billable usage per tenant and São Paulo day (docs/billing.md): billed (the ledger the invoice and the
-- quota use) beside accepted (distinct event_ids first accepted that day, from the dispatch attempts).
-- Incremental by day: the Dagster partition window [min_date, max_date) is widened by one day back, so a
-- São Paulo day (which ends at 03:00 UTC) is recomputed by the next UTC day's partition too.
{% if is_incremental() or var('min_date', '') %}
    {% set lo = "(" ~ partition_min_date() ~ " - 1)" %}
    {% set hi = partition_max_date() %}
{% else %}
    {% set lo = "'" ~ var('history_start_date', '2026-01-01') ~ "'::date" %}
    {% set hi = "(current_date + 1)" %}
{% endif %}

with billed as (
    select tenant_id, usage_date, period, count(*) as billable_events
    from {{ ref('stg_billing__usage_ledger') }}
    where accepted_at >= {{ lo }} - interval '1 day' and usage_date >= {{ lo }} and usage_date < {{ hi }}
    group by 1, 2, 3
),

accepted as (
    select tenant_id, usage_date, period, count(*) as accepted_events
    from {{ ref('int_billing__first_acceptances') }}
    where accepted_at >= {{ lo }} - interval '1 day' and usage_date >= {{ lo }} and usage_date < {{ hi }}
    group by 1, 2, 3
)

select
    coalesce(b.tenant_id, a.tenant_id) as tenant_id,
    coalesce(b.usage_date, a.usage_date) as usage_date,
    coalesce(b.period, a.period) as period,
    coalesce(b.billable_events, 0) as billable_events,
    coalesce(a.accepted_events, 0) as accepted_events
from billed as b
full outer join accepted as a
    on a.tenant_id = b.tenant_id and a.usage_date = b.usage_date
