"""Moved to tests/support/rows.py (one row-builder module). Kept only for callers written before the move
(tests/billing, tests/setup): import from ``tests.support.rows`` instead."""

from tests.support.rows import UA, add_purchase, queue_status

__all__ = ["UA", "add_purchase", "queue_status"]
