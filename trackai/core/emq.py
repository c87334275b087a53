"""ESTIMATED Event Match Quality (0-10) of a dispatched event, from which user_data keys it carried.

Not Meta's EMQ (that one also weighs key quality and how many events Meta matched over 48 h). We
weight the keys by Meta's published priority list - High: em, fbc; Medium: ph, external_id, fbp;
supporting: client IP, user agent, name/location/birthdate fields - and cap the sum at 10.
``EMQ_WEIGHTS`` is the one weight table: the SQL form (``sql_expression``, used by the EMQ alarm) and the
dbt macro ``estimated_emq`` (dbt/macros/estimated_emq.sql, written from ``dbt_macro()`` by
``trackai dbt prepare``; a test checks the file is current) are generated from it. Always label the
number "estimated".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EMQ_WEIGHTS: dict[str, float] = {
    "em": 3.0,
    "fbc": 3.0,
    "ph": 1.5,
    "external_id": 1.5,
    "fbp": 1.5,
    "client_ip_address": 0.5,
    "client_user_agent": 0.5,
    "fn": 0.25,
    "ln": 0.25,
    "ct": 0.25,
    "st": 0.25,
    "zp": 0.25,
    "country": 0.25,
    "db": 0.25,
    "ge": 0.25,
}
LABEL = "estimated EMQ (key coverage weighted by Meta's priority list; not Meta's score)"


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list | tuple):
        return any(_present(v) for v in value)
    return str(value) != ""


def estimated_emq(user_data: Mapping[str, Any] | None) -> float:
    """0-10, two decimals."""
    if not user_data:
        return 0.0
    score = sum(w for key, w in EMQ_WEIGHTS.items() if _present(user_data.get(key)))
    return round(min(10.0, score), 2)


def sql_expression(user_data: str, separator: str = " + ") -> str:
    """The same estimate as SQL over a jsonb ``user_data`` expression (numeric 0-10, two decimals)."""
    terms = separator.join(
        f"CASE WHEN coalesce(({user_data}) ->> '{key}', '') NOT IN ('', '[]') THEN {w} ELSE 0 END"
        for key, w in EMQ_WEIGHTS.items()
    )
    return f"least(10.0, round(({terms})::numeric, 2))"


DBT_MACRO_HEADER = """{#- GENERATED from trackai/core/emq.py (EMQ_WEIGHTS) by `trackai dbt prepare`; do not edit.
  ESTIMATED Event Match Quality (0-10) from which user_data keys a dispatched event carried - not
  Meta's EMQ. tests/dbt checks this file is current. -#}"""


def dbt_macro() -> str:
    """The text of dbt/macros/estimated_emq.sql: ``estimated_emq(user_data)`` = ``sql_expression``."""
    body = sql_expression("{{ user_data }}", separator="\n        + ")
    return f"{DBT_MACRO_HEADER}\n{{% macro estimated_emq(user_data) -%}}\n    {body}\n{{%- endmacro %}}\n"
