"""Group commit: the hot-path statements of requests in flight land together, one transaction and one
commit flush for many rows, and each request is answered only after the commit that holds its row.

Why: with ``synchronous_commit`` on, a transaction per request waits for its own WAL flush, and the
flush, not the CPU, bounds the rate (issue 21). Here a writer takes what is queued, sends it in one
pipelined round trip inside one transaction, commits once, and only then resolves every request's
future (a 2xx still means durable).

- Bounded wait: a lone request is sent at once when no batch is committing; while one is, the next batch
  waits at most ``max_wait`` (or until ``max_rows`` are queued) so that rows arriving meanwhile join it.
  At most ``max_batches`` batches commit at the same time (each holds one pool connection).
- One bad row never fails its neighbours: a refusal (``REFUSALS``: a CHECK, a numeric overflow, a lone
  surrogate) rolls the batch back, and each of its statements then runs alone in its own transaction, as
  before group commit; only the bad one gets its exception.
- Database trouble (``DB_ERRORS``) fails every request of the batch: the caller answers 503 with
  Retry-After; a commit whose outcome is unknown is retried by the gateway and answered ``duplicate``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)
# What the database (or the adaptation of a value) refuses in one row: its own answer, never its batch's.
REFUSALS = (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError)


@dataclass(slots=True)
class _Pending:
    query: str
    params: dict
    future: asyncio.Future


class GroupCommit:
    def __init__(
        self, pool: AsyncConnectionPool, *, max_wait: float, max_rows: int, max_batches: int
    ) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.max_rows = max_rows
        self._slots = asyncio.Semaphore(max_batches)
        self._queue: list[_Pending] = []
        self._queued = asyncio.Event()
        self._committing = 0
        self._writer: asyncio.Task | None = None
        self._batches: set[asyncio.Task] = set()

    async def fetchone(self, query: str, params: dict) -> tuple | None:
        """The statement's first row, once the transaction holding it has committed. Raises the
        statement's own REFUSALS error, or a DB_ERRORS one for database trouble."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(query, params, future))
        self._queued.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="trackai-group-commit")
        return await future

    async def close(self) -> None:
        """Stop taking batches; wait for those committing; fail what is still queued (503)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        self._fail(self._queue, psycopg.OperationalError("ingest service shutting down"))
        self._queue = []

    async def _write(self) -> None:
        while True:
            await self._queued.wait()
            if self._committing and len(self._queue) < self.max_rows:
                await asyncio.sleep(self.max_wait)  # a batch is committing: let more rows join the next
            await self._slots.acquire()
            batch, self._queue = self._queue[: self.max_rows], self._queue[self.max_rows :]
            if not self._queue:
                self._queued.clear()
            if not batch:
                self._slots.release()
                continue
            self._committing += 1
            task = asyncio.create_task(self._commit(batch))
            self._batches.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._batches.discard(task)
        self._committing -= 1
        self._slots.release()

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            async with self.pool.connection() as conn:
                rows = await self._together(conn, batch)
                if rows is None:
                    await self._alone(conn, batch)
                    return
        except DB_ERRORS as exc:
            self._fail(batch, exc)
            return
        except BaseException as exc:  # a bug must not leave requests waiting forever
            self._fail(batch, exc)
            raise
        for pending, row in zip(batch, rows, strict=True):
            if not pending.future.done():
                pending.future.set_result(row)

    async def _together(self, conn: psycopg.AsyncConnection, batch: list[_Pending]) -> list | None:
        """One transaction, one pipelined round trip, one commit; None when a row was refused."""
        try:
            async with conn.transaction():
                async with conn.pipeline():
                    cursors = [await conn.execute(p.query, p.params) for p in batch]
                return [await cur.fetchone() for cur in cursors]
        except REFUSALS:
            return None

    async def _alone(self, conn: psycopg.AsyncConnection, batch: list[_Pending]) -> None:
        """After a refusal: each statement in its own transaction (autocommit), each its own answer."""
        for pending in batch:
            try:
                cur = await conn.execute(pending.query, pending.params)
                row = await cur.fetchone()
            except REFUSALS as exc:
                if not pending.future.done():  # done: the request was cancelled (client gone)
                    pending.future.set_exception(exc)
            else:
                if not pending.future.done():
                    pending.future.set_result(row)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(exc)
