{#- Incremental window from the Dagster partition vars min_date/max_date ([min, max) in UTC days). -#}
{% macro partition_min_date() -%}
    {%- if var('min_date', '') -%}'{{ var('min_date') }}'::date{%- else -%}(current_date - 1){%- endif -%}
{%- endmacro %}

{% macro partition_max_date() -%}
    {%- if var('max_date', '') -%}'{{ var('max_date') }}'::date{%- else -%}(current_date + 1){%- endif -%}
{%- endmacro %}
