{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['tenant_id', 'metric_date'],
    on_schema_change='append_new_columns',
    tags=['daily']
  )
}}
-- Per tenant and UTC day. Incremental by day: Dagster passes its daily partition window as vars
-- min_date/max_date ([min, max)); without vars an incremental run redoes yesterday and today and a
-- first build covers var('history_start_date') .. today.
{% if is_incremental() or var('min_date', '') %}
    {% set lo = partition_min_date() %}
    {% set hi = partition_max_date() %}
{% else %}
    {% set lo = "'" ~ var('history_start_date', '2026-01-01') ~ "'::date" %}
    {% set hi = "(current_date + 1)" %}
{% endif %}

with days as (
    select d::date as metric_date
    from generate_series({{ lo }}, {{ hi }} - 1, interval '1 day') as d
),

spine as (
    select t.tenant_id, d.metric_date
    from {{ ref('dim_tenants') }} as t
    cross join days as d
),

clicks as (
    select tenant_id, occurred_date as metric_date, count(*) as clicks
    from {{ ref('stg_landing__clicks') }}
    where occurred_at >= {{ lo }} and occurred_at < {{ hi }}
    group by 1, 2
),

purchases as (
    select
        tenant_id,
        partition_date as metric_date,
        count(*) as purchases,
        count(*) filter (where is_matched) as matched,
        coalesce(sum(amount), 0) as revenue
    from {{ ref('fct_purchase_matches') }}
    where is_approved and not is_test and partition_date >= {{ lo }} and partition_date < {{ hi }}
    group by 1, 2
),

dispatched as (
    select
        tenant_id,
        sent_date as metric_date,
        count(*) as dispatched,
        round(avg(estimated_emq), 2) as estimated_emq
    from {{ ref('fct_dispatched_events') }}
    where queue_status = 'sent' and sent_at >= {{ lo }} and sent_at < {{ hi }}
    group by 1, 2
),

failed as (
    select tenant_id, (created_at at time zone 'UTC')::date as metric_date, count(*) as failed_attempts
    from {{ ref('stg_ops__dispatch_attempts') }}
    where not is_success and created_at >= {{ lo }} and created_at < {{ hi }}
    group by 1, 2
),

dlq as (
    select tenant_id, (created_at at time zone 'UTC')::date as metric_date, count(*) as dlq_events
    from {{ ref('stg_ops__dlq') }}
    where created_at >= {{ lo }} and created_at < {{ hi }}
    group by 1, 2
)

select
    s.tenant_id,
    s.metric_date,
    coalesce(c.clicks, 0) as clicks,
    coalesce(p.purchases, 0) as purchases,
    coalesce(p.matched, 0) as matched,
    coalesce(p.revenue, 0) as revenue,
    coalesce(d.dispatched, 0) as dispatched,
    coalesce(f.failed_attempts, 0) as failed_attempts,
    coalesce(q.dlq_events, 0) as dlq_events,
    {{ rate_pct("p.matched", "p.purchases") }} as match_rate_pct,
    d.estimated_emq,
    now() as computed_at
from spine as s
left join clicks as c on c.tenant_id = s.tenant_id and c.metric_date = s.metric_date
left join purchases as p on p.tenant_id = s.tenant_id and p.metric_date = s.metric_date
left join dispatched as d on d.tenant_id = s.tenant_id and d.metric_date = s.metric_date
left join failed as f on f.tenant_id = s.tenant_id and f.metric_date = s.metric_date
left join dlq as q on q.tenant_id = s.tenant_id and q.metric_date = s.metric_date
