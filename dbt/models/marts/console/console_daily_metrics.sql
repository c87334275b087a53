{{
  config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['tenant_id', 'metric_date'],
    on_schema_change='append_new_columns',
    tags=['daily']
  )
}}
-- The console's metrics per tenant and UTC day, stored (one row per tenant and day, zero rows included,
-- so a missing day is visibly missing). Dagster refreshes the latest day every 5 minutes and yesterday at
-- 00:30 UTC (tag `daily`, window from vars min_date/max_date); a first build covers
-- var('history_start_date') .. today. `is_final`: computed after the day ended, so the console reads it
-- as is; today it computes live (console_daily_metrics_today). Row-level security: post-hook
-- (dbt_project.yml, console.enforce_tenant_rls).
{% if is_incremental() or var('min_date', '') %}
    {% set lo = partition_min_date() %}
    {% set hi = partition_max_date() %}
{% else %}
    {% set lo = "'" ~ var('history_start_date', '2026-01-01') ~ "'::date" %}
    {% set hi = "((now() at time zone 'UTC')::date + 1)" %}
{% endif %}

with days as (
    select d::date as metric_date
    from generate_series({{ lo }}, {{ hi }} - 1, interval '1 day') as d
),

spine as (
    select t.tenant_id, d.metric_date
    from {{ source('core', 'tenants') }} as t
    cross join days as d
),

metrics as (
    {{ console_daily_metrics_sql(lo, hi) }}
)

select
    s.tenant_id,
    s.metric_date,
    {%- set purchase_cols, sent_cols = console_metric_columns() %}
    {%- for c in purchase_cols + sent_cols %}
    coalesce(m.{{ c }}, 0) as {{ c }},
    {%- endfor %}
    now() as computed_at,
    now() >= (s.metric_date + 1)::timestamp at time zone 'UTC' as is_final
from spine as s
left join metrics as m on m.tenant_id = s.tenant_id and m.metric_date = s.metric_date
