"""The network key of a client address: its /24 (IPv4) or /64 (IPv6) network. Pure; the one definition.

The probabilistic matching stage compares purchases and clicks by this key (a household or a mobile
carrier's block shares it; one address changes within it). Python computes it for frames
(``network_key``); Postgres computes it with ``core.network_key(inet)`` (migration 0511, whose body is
``SQL_BODY``), used both by the index on landing.clicks and by the candidate query, so the index serves the
query. tests/matching/test_network_key.py checks that the migration holds ``SQL_BODY`` and that Python and
Postgres agree on IPv4, IPv6 and edge addresses.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 64
SQL_FUNCTION = "core.network_key"
# The function's body, with the prefix lengths above (the migration must contain it verbatim).
SQL_BODY = f"network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN {IPV4_PREFIX} ELSE {IPV6_PREFIX} END))"


def network_key(ip: object) -> str | None:
    """``203.0.113.0/24`` for ``203.0.113.7``; None for a missing or unparsable address.

    A mask in the input (``10.1.2.3/8``) is ignored, as Postgres' set_masklen does."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(str(ip).split("/")[0])
    except ValueError:
        return None
    prefix = IPV4_PREFIX if addr.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def sql_key(column: str) -> str:
    """The SQL expression of the key of ``column`` (what the index on landing.clicks is built on)."""
    return f"{SQL_FUNCTION}({column})"
