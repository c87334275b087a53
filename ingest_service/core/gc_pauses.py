"""Keep full garbage collections short in an ingest worker (issue 21).

The bench's p99 at half peak was set by single pauses, not by queueing: a full (generation 2) collection
scanning the ~90,000 container objects a worker holds once it has started and served its first requests
(modules, functions, classes, pydantic and typing objects), 36-55 ms each, every 10-30 s under load, and
finding almost nothing to free. Objects that survive a full collection are live, so right then they can be
moved to the permanent generation (``gc.freeze``), which later collections do not scan: 0.5-1.3 ms each
afterwards in the bench (docs/benchmarks.md). Done at startup and after the worker's next
``FREEZE_AFTER_FULL_COLLECTIONS`` full collections (what its first requests import lazily), and then no
more: objects that become long-lived later stay collectable, so a cycle among them is still freed.
"""

from __future__ import annotations

import gc

FREEZE_AFTER_FULL_COLLECTIONS = 2


def freeze_startup_objects() -> None:
    """Collect once (nothing is being served yet), freeze the survivors, and freeze again after the next
    few full collections."""
    gc.collect()
    gc.freeze()
    remaining = [FREEZE_AFTER_FULL_COLLECTIONS]

    def after_full_collection(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2 and remaining[0] > 0:
            remaining[0] -= 1
            gc.freeze()

    gc.callbacks.append(after_full_collection)
