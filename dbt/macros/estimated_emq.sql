{#-
  ESTIMATED Event Match Quality (0-10) from which user_data keys a dispatched event carried.
  This is NOT Meta's EMQ: it weights keys by Meta's published priority list (High: em, fbc;
  Medium: ph, external_id, fbp; Low/supporting: client_ip_address, client_user_agent, fn, ln,
  ct, st, zp, country, db, ge) and scales the sum to 0-10, capped. Mirrors
  dagster_project/lib/emq.py (a test asserts both give the same numbers).
-#}
{% macro emq_weights() -%}
    {{ return({
        'em': 3.0, 'fbc': 3.0,
        'ph': 1.5, 'external_id': 1.5, 'fbp': 1.5,
        'client_ip_address': 0.5, 'client_user_agent': 0.5,
        'fn': 0.25, 'ln': 0.25, 'ct': 0.25, 'st': 0.25, 'zp': 0.25, 'country': 0.25, 'db': 0.25, 'ge': 0.25
    }) }}
{%- endmacro %}

{% macro estimated_emq(user_data) -%}
    least(10.0, round((
    {%- for key, weight in emq_weights().items() %}
        {{ '+ ' if not loop.first }}case when coalesce({{ user_data }} ->> '{{ key }}', '') not in ('', '[]') then {{ weight }} else 0 end
    {%- endfor %}
    )::numeric, 2))
{%- endmacro %}
