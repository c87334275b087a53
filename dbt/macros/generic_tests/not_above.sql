{#- Rows where the column exceeds another column of the same row (e.g. filtered <= total; issue 23). -#}
{% test not_above(model, column_name, other) %}
select {{ column_name }}, {{ other }}
from {{ model }}
where {{ column_name }} > {{ other }}
{% endtest %}
