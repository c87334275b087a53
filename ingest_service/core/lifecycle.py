"""What the app does at startup and shutdown, in order (``main.create_app``'s lifespan).

Startup: in production refuse an over-privileged database role (``privileges``), open the pool, start
the refusal flusher and the internal /metrics listener, and in a served worker freeze what it holds so
that full garbage collections stay short (``gc_pauses``). Shutdown: the reverse, landing the last
refusal counts before the pool closes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ingest_service.core import gc_pauses, metrics_server, privileges
from ingest_service.core.deps import AppState


@contextlib.asynccontextmanager
async def running(app: AppState, database_url: str, *, freeze_gc: bool = False) -> AsyncIterator[None]:
    await privileges.check_async(database_url, app.settings)
    await app.store.open()
    app.refusals.start()
    listener = await metrics_server.start(
        app.metrics.registry, app.settings.metrics_host, app.settings.metrics_port
    )
    app.metrics_port = metrics_server.bound_port(listener)
    if freeze_gc:
        gc_pauses.freeze_startup_objects()
    try:
        yield
    finally:
        if listener is not None:
            listener.close()
            with contextlib.suppress(Exception):
                await listener.wait_closed()
        await app.refusals.stop()
        await app.store.close()
