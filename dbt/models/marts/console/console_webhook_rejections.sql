-- Refused webhooks per tenant, gateway and reason over the last 24 hours (a wrong secret shows up here
-- first). Since sql/0500 a row counts `hits` refusals of one minute; before it, one refusal per row.
{%- set refusals = "count(*)" -%}
{%- if execute -%}
    {%- set columns = adapter.get_columns_in_relation(source('landing', 'webhook_rejections')) | map(attribute='name') | list -%}
    {%- if 'hits' in columns %}{% set refusals = "sum(r.hits)" %}{% endif -%}
{%- endif %}
select
    r.tenant_id,
    r.gateway,
    r.reason,
    {{ refusals }}::bigint as refusals,
    max(r.created_at) as last_refused_at
from {{ source('landing', 'webhook_rejections') }} as r
where r.tenant_id is not null and r.created_at >= now() - interval '24 hours'
group by r.tenant_id, r.gateway, r.reason
