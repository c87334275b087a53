"""Gateway adapters: one interface (``Gateway``), four small implementations. Pure functions only."""

from __future__ import annotations

from trackai.core.gateways.base import (
    CANONICAL_STATUSES,
    AuthError,
    Conversion,
    Gateway,
    Mapped,
    MappingError,
    redact,
)
from trackai.core.gateways.hotmart import Hotmart
from trackai.core.gateways.kiwify import Kiwify
from trackai.core.gateways.perfectpay import PerfectPay
from trackai.core.gateways.stripe import Stripe

ADAPTERS: dict[str, Gateway] = {g.name: g for g in (PerfectPay(), Hotmart(), Kiwify(), Stripe())}


def get_gateway(name: str) -> Gateway | None:
    return ADAPTERS.get(name)


__all__ = [
    "ADAPTERS",
    "CANONICAL_STATUSES",
    "AuthError",
    "Conversion",
    "Gateway",
    "Mapped",
    "MappingError",
    "get_gateway",
    "redact",
]
