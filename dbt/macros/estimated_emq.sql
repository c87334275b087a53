{#- GENERATED from trackai/core/emq.py (EMQ_WEIGHTS) by `trackai dbt prepare`; do not edit.
  ESTIMATED Event Match Quality (0-10) from which user_data keys a dispatched event carried - not
  Meta's EMQ. tests/dbt checks this file is current. -#}
{% macro estimated_emq(user_data) -%}
    least(10.0, round((CASE WHEN coalesce(({{ user_data }}) ->> 'em', '') NOT IN ('', '[]') THEN 3.0 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'fbc', '') NOT IN ('', '[]') THEN 3.0 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'ph', '') NOT IN ('', '[]') THEN 1.5 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'external_id', '') NOT IN ('', '[]') THEN 1.5 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'fbp', '') NOT IN ('', '[]') THEN 1.5 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'client_ip_address', '') NOT IN ('', '[]') THEN 0.5 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'client_user_agent', '') NOT IN ('', '[]') THEN 0.5 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'fn', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'ln', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'ct', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'st', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'zp', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'country', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'db', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END
        + CASE WHEN coalesce(({{ user_data }}) ->> 'ge', '') NOT IN ('', '[]') THEN 0.25 ELSE 0 END)::numeric, 2))
{%- endmacro %}
