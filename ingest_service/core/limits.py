"""Per-visitor limits (``WindowCounter``) and per-tenant budgets (``TenantBudget``): fixed one-minute
windows, aligned on the wall clock, counted in this worker's memory.

Per-visitor limits sit in front of the per-tenant budget so that one client cannot use up a tenant's
shared budget, and they cost no database round trip: a flood is refused before it reaches the pool.
Each worker counts for itself, so with N workers one address gets at most N times its budget; the
fronting proxy applies its own per-address limit in front of all workers (docs/go-live.md). The
per-tenant budget is shared by every worker through leases in Postgres (sql/1600).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime

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


Lease = Callable[[object, str, datetime, int, int], Awaitable[int]]


class _Budget:
    __slots__ = ("exhausted", "leased", "pending", "tokens")

    def __init__(self) -> None:
        self.tokens = 0  # leased and not spent yet
        self.leased = 0  # leased in this window (sets the next lease's size)
        self.exhausted = False  # Postgres granted nothing: refuse without asking again this window
        self.pending: asyncio.Task | None = None


class TenantBudget:
    """Per-tenant budgets shared by every worker, spent in memory: tokens are leased from Postgres
    (``landing.rate_limit_lease``, sql/1600) a chunk at a time, each request taking one without a database
    round trip. A window's first lease asks for a sixteenth of the limit (at least 1), and each next one
    for as many as this worker already leased in the window, up to ``max_lease``: a small limit is not
    handed to one worker at once, and a busy tenant does not wait for many leases at each new window. Why: counting every request in Postgres put an
    upsert per tenant into every group-commit batch (a quarter of the database's work per row) and tied a
    tenant to one writer lane (issue 21).

    Within a worker the count is exact. Across workers the grants add up to at most the limit, so a window
    never admits more than the limit; a request can be refused while other workers hold unspent tokens
    (at most ``max_lease`` each), and a worker that dies takes its unspent tokens with it for the rest of
    the window. Once Postgres grants nothing, the tenant is refused in memory until the window rolls over
    (a flood costs no database work). Concurrent requests needing a lease share one call."""

    def __init__(
        self,
        lease: Lease,
        *,
        window_seconds: int = 60,
        max_lease: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self.window_seconds = window_seconds
        self.max_lease = max_lease
        self.clock = clock
        self._window = -1
        self._budgets: dict[tuple[object, str], _Budget] = {}

    async def take(self, tenant: object, scope: str, limit: int) -> bool:
        """One request of ``tenant`` in ``scope``: True if it is within ``limit`` for this window.
        Raises what the lease raises (database trouble: the caller answers 503)."""
        while True:
            window = int(self.clock() // self.window_seconds)
            if window != self._window:
                self._window, self._budgets = window, {}
            budget = self._budgets.get((tenant, scope))
            if budget is None:
                budget = self._budgets[(tenant, scope)] = _Budget()
            if budget.tokens > 0:
                budget.tokens -= 1
                return True
            if budget.exhausted or limit <= 0:
                return False
            if budget.pending is None:
                start = datetime.fromtimestamp(window * self.window_seconds, UTC)
                want = min(self.max_lease, max(1, budget.leased, limit // 16), limit)
                budget.pending = asyncio.ensure_future(self._lease(budget, tenant, scope, start, want, limit))
            await asyncio.shield(budget.pending)

    async def _lease(
        self, budget: _Budget, tenant: object, scope: str, start: datetime, want: int, limit: int
    ) -> None:
        try:
            granted = await self.lease(tenant, scope, start, want, limit)
        finally:
            budget.pending = None
        budget.tokens += granted
        budget.leased += granted
        budget.exhausted = granted == 0
