"""Optional per-gateway source-address allowlist for webhooks (pure; the ingest route applies it).

``TRACKAI_VERIFY_SOURCE_ALLOWLIST`` = ``gateway=cidr,cidr;gateway=cidr`` (e.g.
``hotmart=203.0.113.0/24;perfectpay=198.51.100.7``). A gateway that is not listed accepts any address
(none of the four gateways publishes its egress addresses in the sources of gateways.md, so the list
is the operator's, built from what their own logs show). A listed gateway accepts only deliveries
whose client address (the nearest untrusted hop, as ``ingest_service.core.deps.client_ip`` computes
it) is inside one of its networks; an unknown address is refused. It narrows who can use a leaked
static token; it is no substitute for verifying the purchase.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Allowlists = Mapping[str, tuple[Network, ...]]


@lru_cache(maxsize=16)
def parse_allowlists(text: str) -> Allowlists:
    """``gateway=cidr,cidr;gateway=cidr`` -> {gateway: networks} (cached, read-only). Raises ValueError."""
    result: dict[str, tuple[Network, ...]] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        gateway, sep, cidrs = part.partition("=")
        gateway = gateway.strip().lower()
        if not sep or not gateway:
            raise ValueError(f"allowlist entry {part!r} is not gateway=cidr[,cidr]")
        networks = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(",") if c.strip())
        if not networks:
            raise ValueError(f"allowlist entry for {gateway!r} lists no network")
        result[gateway] = result.get(gateway, ()) + networks
    return MappingProxyType(result)


def source_allowed(gateway: str, address: str | None, allowlists: Allowlists) -> bool:
    """True when ``gateway`` has no allowlist, or ``address`` is inside one of its networks."""
    networks = allowlists.get(gateway)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address) if address else None
    except ValueError:
        return False
    return ip is not None and any(ip in net for net in networks)
