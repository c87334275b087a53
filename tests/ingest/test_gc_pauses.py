"""Short full garbage collections in a served worker (issue 21, ingest_service/core/gc_pauses.py): what
survives startup and the next few full collections is frozen (later collections do not scan it), later
objects stay collectable, and only ``trackai serve``'s workers do it (not apps built inside tests). Each
case runs in its own interpreter: freezing is process-wide."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

from trackai import db


def _run(code: str, env: dict | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env or os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_survivors_are_frozen_at_startup_and_after_the_next_full_collections_only() -> None:
    out = _run(
        """
        import gc
        from ingest_service.core import gc_pauses

        gc_pauses.freeze_startup_objects()
        counts = [gc.get_freeze_count()]
        held = []
        for _ in range(gc_pauses.FREEZE_AFTER_FULL_COLLECTIONS + 2):
            held.append([[] for _ in range(1000)])  # new long-lived containers, then a full collection
            gc.collect()
            counts.append(gc.get_freeze_count())
        a = []
        a.append(a)  # a cycle made after the last freeze
        del a
        print(counts, gc.collect())
        """
    )
    counts, collected = out.rsplit(" ", 1)
    counts = [int(c) for c in counts.strip("[]").split(",")]
    n = len(counts) - 3  # startup + FREEZE_AFTER_FULL_COLLECTIONS frozen steps
    assert counts[0] > 1000  # the startup objects
    assert all(later - earlier >= 1000 for earlier, later in itertools.pairwise(counts[: n + 1]))
    assert counts[n + 1] == counts[n] and counts[n + 2] == counts[n]  # then no more freezing
    assert int(collected) >= 1  # and a new cycle is still freed


def test_only_a_served_worker_freezes(pg_url: str) -> None:
    env = {
        **os.environ,
        "TRACKAI_DATABASE_URL": db.with_user(pg_url, "trackai_app_rw"),
        "TRACKAI_METRICS_PORT": "0",
    }
    out = _run(
        """
        import gc
        from fastapi.testclient import TestClient
        from ingest_service import main

        with TestClient(main.create_app()) as client:
            assert client.get("/health").status_code == 200
            built = gc.get_freeze_count()
        with TestClient(main.create_served_app()) as client:
            assert client.get("/health").status_code == 200
            served = gc.get_freeze_count()
        print(built, served)
        """,
        env,
    )
    built, served = (int(x) for x in out.split())
    assert built == 0 and served > 10_000
