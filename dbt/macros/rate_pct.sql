{#- 100 * numerator / denominator rounded to 2 decimals; null when the denominator is 0 or null. -#}
{% macro rate_pct(numerator, denominator) -%}
    round(100.0 * ({{ numerator }}) / nullif({{ denominator }}, 0), 2)
{%- endmacro %}
