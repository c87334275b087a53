{#- The seller console's daily metrics (dbt/models/marts/console), defined once for the days stored in
  console_daily_metrics and the live day of console_daily_metrics_today.

  Per tenant and UTC day, two populations, each on its own day: approved purchases on their purchase day
  (partition_date), and events Meta accepted on the day they were sent. Every column is additive, so any
  window is a SUM over days. The day filters are plain comparisons on indexed columns: the console's role
  reads under row-level security, where only leakproof predicates may use an index. -#}

{% macro console_user_data_keys() -%}
    {{ return(['em', 'ph', 'fbc', 'fbp', 'external_id', 'client_ip_address', 'client_user_agent']) }}
{%- endmacro %}

{% macro console_match_stages() -%}
    {{ return(['deterministic', 'semi_deterministic', 'probabilistic']) }}
{%- endmacro %}

{#- Where a queued event stands (q: the ops.dispatch_queue alias): dlq | sent | failed (held by an invalid
  token, or waiting out the backoff after a failed attempt) | pending (will go on the next dispatch run,
  including a replayed event). console/queries.py STATE_FILTERS states the same on the raw columns
  (tests/console check both agree). -#}
{% macro console_dispatch_state(q) -%}
    case
        when {{ q }}.status = 'dlq' then 'dlq'
        when {{ q }}.status = 'sent' then 'sent'
        when {{ q }}.status = 'blocked' or ({{ q }}.attempts > 0 and {{ q }}.next_attempt_at > now()) then 'failed'
        when {{ q }}.status = 'pending' then 'pending'
        else {{ q }}.status
    end
{%- endmacro %}

{#- Column names of the metrics, in order: (purchase-day columns, sent-day columns). -#}
{% macro console_metric_columns() -%}
    {%- set purchase_cols = ['purchases', 'revenue_brl', 'purchases_other_currency', 'matched'] -%}
    {%- for stage in console_match_stages() %}{% do purchase_cols.append('matched_' ~ stage) %}{% endfor -%}
    {%- set sent_cols = ['sent', 'revenue_sent_brl', 'estimated_emq_sum'] -%}
    {%- for key in console_user_data_keys() %}{% do sent_cols.append('sent_with_' ~ key) %}{% endfor -%}
    {%- for stage in console_match_stages() %}{% do sent_cols.append('sent_' ~ stage) %}{% endfor -%}
    {{ return((purchase_cols, sent_cols)) }}
{%- endmacro %}

{#- lo, hi: SQL date expressions, the window [lo, hi). -#}
{% macro console_daily_metrics_sql(lo, hi) %}
with purchase_days as (
    select
        p.tenant_id,
        p.partition_date as metric_date,
        count(*) as purchases,
        coalesce(sum(p.amount) filter (where upper(p.currency) = 'BRL'), 0) as revenue_brl,
        count(*) filter (where upper(p.currency) is distinct from 'BRL') as purchases_other_currency,
        count(m.click_id) as matched
        {%- for stage in console_match_stages() %},
        count(*) filter (where m.stage = '{{ stage }}') as matched_{{ stage }}
        {%- endfor %}
    from {{ source('core', 'purchases') }} as p
    left join {{ source('core', 'matches') }} as m
        on m.tenant_id = p.tenant_id and m.gateway = p.gateway and m.order_id = p.order_id
    where p.approved_at is not null
        and p.partition_date >= {{ lo }} and p.partition_date < {{ hi }}
    group by p.tenant_id, p.partition_date
),

sent_days as (
    select
        q.tenant_id,
        (q.sent_at at time zone 'UTC')::date as metric_date,
        count(*) as sent,
        coalesce(sum(p.amount) filter (where upper(p.currency) = 'BRL'), 0) as revenue_sent_brl,
        coalesce(sum({{ estimated_emq("q.payload -> 'user_data'") }}), 0) as estimated_emq_sum
        {%- for key in console_user_data_keys() %},
        count(*) filter (where coalesce(q.payload -> 'user_data' ->> '{{ key }}', '') not in ('', '[]'))
            as sent_with_{{ key }}
        {%- endfor %}
        {%- for stage in console_match_stages() %},
        count(*) filter (where m.stage = '{{ stage }}') as sent_{{ stage }}
        {%- endfor %}
    from {{ source('ops', 'dispatch_queue') }} as q
    left join {{ source('core', 'purchases') }} as p on p.event_id = q.event_id
    left join {{ source('core', 'matches') }} as m
        on m.tenant_id = p.tenant_id and m.gateway = p.gateway and m.order_id = p.order_id
    where q.status = 'sent'
        and q.sent_at >= ({{ lo }})::timestamp at time zone 'UTC'
        and q.sent_at < ({{ hi }})::timestamp at time zone 'UTC'
    group by q.tenant_id, (q.sent_at at time zone 'UTC')::date
),

{%- set purchase_cols, sent_cols = console_metric_columns() %}

both_populations as (
    select tenant_id, metric_date
        {%- for c in purchase_cols %}, {{ c }}{% endfor %}
        {%- for c in sent_cols %}, 0 as {{ c }}{% endfor %}
    from purchase_days
    union all
    select tenant_id, metric_date
        {%- for c in purchase_cols %}, 0 as {{ c }}{% endfor %}
        {%- for c in sent_cols %}, {{ c }}{% endfor %}
    from sent_days
)

select
    tenant_id,
    metric_date
    {%- for c in purchase_cols + sent_cols %},
    sum({{ c }}){{ '::bigint' if c not in ('revenue_brl', 'revenue_sent_brl', 'estimated_emq_sum') else '' }} as {{ c }}
    {%- endfor %}
from both_populations
group by tenant_id, metric_date
{% endmacro %}
