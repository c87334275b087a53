"""Purchase verification before dispatch (issue 22, finding 3): pure rules (``rules``, ``allowlist``,
``credentials``), thin sales-API clients (``clients``), the Postgres side (``store``) and one run
(``engine.verify_purchases``). Exports resolve lazily, so the pure modules import nothing else."""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "DISPATCHABLE_SQL": "trackai.verification.store",
    "parse_allowlists": "trackai.verification.allowlist",
    "source_allowed": "trackai.verification.allowlist",
    "verify_purchases": "trackai.verification.engine",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
