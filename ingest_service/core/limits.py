"""Per-visitor limits: fixed one-minute windows counted in this worker's memory.

They sit in front of the per-tenant limit in Postgres (``landing.rate_limit_hit``) so that one client
cannot use up a tenant's shared budget, and they cost no database round trip: a flood is refused before
it reaches the pool. Each worker counts for itself, so with N workers one address gets at most N times
its budget; the fronting proxy applies its own per-address limit in front of all workers
(docs/go-live.md). Windows are aligned on the wall clock like the Postgres ones (one minute).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Hashable

_KEYS: dict[str, str] = {}


def address_key(address: str | None) -> str:
    """The unit a per-address budget applies to: an IPv4 address, or the /64 of an IPv6 one (one
    subscriber usually gets a whole /64, so counting single IPv6 addresses would be no limit at all).
    Memoised (bounded): it runs for every click and every refusal."""
    if not address:
        return "unknown"
    key = _KEYS.get(address)
    if key is None:
        if len(address) > 64:  # not an address (only validated ones are memoised)
            return _address_key(address)
        if len(_KEYS) >= 20_000:
            _KEYS.clear()
        key = _KEYS[address] = _address_key(address)
    return key


def _address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


class WindowCounter:
    """Hits per key in the current window. Memory is bounded: past ``max_keys`` keys in a window, new keys
    are not tracked (fail open): an attack from that many sources is the fronting proxy's, and a shared
    overflow counter would let it turn every new visitor away. The per-tenant budget in Postgres still
    applies."""

    def __init__(
        self, window_seconds: int = 60, max_keys: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._window = -1
        self._counts: dict[Hashable, int] = {}

    def _current(self) -> dict[Hashable, int]:
        window = int(self.clock() // self.window_seconds)
        if window != self._window:
            self._window = window
            self._counts = {}
        return self._counts

    def hit(self, key: Hashable) -> int:
        """Count one hit; returns the key's hits in this window, this one included (0: not tracked)."""
        counts = self._current()
        if key not in counts and len(counts) >= self.max_keys:
            return 0
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    def count(self, key: Hashable) -> int:
        return self._current().get(key, 0)

    def retry_after(self) -> int:
        """Seconds until the window rolls over (for Retry-After)."""
        return max(1, int(self.window_seconds - self.clock() % self.window_seconds + 0.999))
