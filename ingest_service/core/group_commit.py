"""Group commit: the rows of requests in flight land together, one statement per table and one commit
flush for many rows, and each request is answered only after the commit that holds its row.

Why: with ``synchronous_commit`` on, a transaction per request waits for its own WAL flush, and the
flush, not the CPU, bounds the rate (issue 21). A request hands its row (one JSON object, built once) to
the writer; the writer takes what is queued, groups it by kind (webhook, click), and lands each group
with its kind's single multi-row statement (``Batch.sql``: the rows arrive as one JSON array, read with
``json_to_recordset``), in autocommit: the statement is its own transaction, and its result is read only
after its commit (the server answers after the flush). Only then is every request's future resolved (a
2xx still means durable). Per-row work (parameter adaptation, a cursor and a result per row) is gone:
one parameter, one round trip, one result set per batch.

- Lanes: ``max_batches`` slots, each with at most one batch committing (one pool connection); a tenant's
  rows always take the same slot, and each slot counts the rate limit in its own shard row (sql/1500),
  so batches of different slots never wait on each other's locks, and a tenant's count is exact within
  a worker. Bounded wait: a lone request is sent at once; rows arriving while their slot commits form
  its next batch (up to ``max_rows``; at most ``max_wait`` more while another slot is committing).
- Per-row semantics: the statement answers one result row per input row (its position ``ord``), so each
  request gets its own answer (e.g. ``duplicate``, rate limited).
- One bad row never fails its neighbours: a refusal (``REFUSALS``: a CHECK, a numeric overflow, a NUL or
  lone surrogate) fails the whole statement, nothing of it is committed, and each of its rows then runs
  alone (the same statement with one row, its own transaction): only the bad one gets its exception.
- Database trouble (``DB_ERRORS``) fails every request of the batch: the caller answers 503 with
  Retry-After; a commit whose outcome is unknown is retried by the gateway and answered ``duplicate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

import psycopg
from psycopg.adapt import Dumper
from psycopg_pool import AsyncConnectionPool, PoolTimeout

DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError)
# What the database (or the adaptation of a value) refuses in one row: its own answer, never its batch's.
REFUSALS = (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError)


class JsonText(bytes):
    """Bytes that are already JSON text: sent as a ``json`` parameter as they are (no re-encoding)."""


class _JsonTextDumper(Dumper):
    oid = psycopg.adapters.types["json"].oid

    def dump(self, obj: bytes) -> bytes:
        return obj


psycopg.adapters.register_dumper(JsonText, _JsonTextDumper)


@dataclass(frozen=True, slots=True)
class Batch:
    """A kind of row and the one statement that lands many of them.

    ``sql`` takes ``%(rows)s``, a JSON array of the rows (each a JSON object), and ``%(shard)s``, the
    slot's rate-limit shard (sql/1500), and returns one row per input row,
    ``(ord, *result)``, ``ord`` being the 1-based position in the array."""

    name: str
    sql: str


@dataclass(slots=True)
class _Pending:
    batch: Batch
    row: bytes  # one JSON object
    future: asyncio.Future


class _Slot:
    """One lane of the writer: its queue, and at most one batch committing at a time."""

    __slots__ = ("queue", "queued", "shard", "writer")

    def __init__(self, shard: int) -> None:
        self.queue: list[_Pending] = []
        self.queued = asyncio.Event()
        self.writer: asyncio.Task | None = None
        self.shard = shard


class GroupCommit:
    """``max_batches`` lanes (slots); a tenant's rows always take the same one (``key``), so a tenant's
    rate-limit shard row (one per slot and worker, sql/1500) is only ever touched by one batch at a time:
    counting is exact within a worker and batches of different slots never wait on each other's commit."""

    def __init__(
        self, pool: AsyncConnectionPool, *, max_wait: float, max_rows: int, max_batches: int
    ) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.max_rows = max_rows
        base = os.getpid() * max_batches
        self._slots = [_Slot((base + i) % 64) for i in range(max_batches)]
        self._committing = 0
        self._batches: set[asyncio.Task] = set()

    async def land(self, batch: Batch, row: bytes, key: object) -> tuple:
        """The statement's result for this row, once the transaction holding it has committed. Raises the
        row's own REFUSALS error, or a DB_ERRORS one for database trouble. ``key``: the tenant."""
        slot = self._slots[hash(str(key)) % len(self._slots)]
        future = asyncio.get_running_loop().create_future()
        slot.queue.append(_Pending(batch, row, future))
        slot.queued.set()
        if slot.writer is None or slot.writer.done():
            slot.writer = asyncio.create_task(self._write(slot), name="trackai-group-commit")
        return await future

    async def close(self) -> None:
        """Stop taking batches; wait for those committing; fail what is still queued (503)."""
        for slot in self._slots:
            if slot.writer is not None:
                slot.writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await slot.writer
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        for slot in self._slots:
            self._fail(slot.queue, psycopg.OperationalError("ingest service shutting down"))
            slot.queue = []

    async def _write(self, slot: _Slot) -> None:
        """A lone row is sent at once; rows arriving while the slot's batch commits form its next batch
        (with at most ``max_wait`` more while another slot is committing)."""
        while True:
            await slot.queued.wait()
            if self._committing and len(slot.queue) < self.max_rows:
                await asyncio.sleep(self.max_wait)
            taken, slot.queue = slot.queue[: self.max_rows], slot.queue[self.max_rows :]
            if not slot.queue:
                slot.queued.clear()
            groups: dict[Batch, list[_Pending]] = {}
            for pending in taken:
                groups.setdefault(pending.batch, []).append(pending)
            for group in groups.values():  # a mixed batch: each kind its own statement, one after the other
                task = asyncio.create_task(self._commit(group, slot.shard))
                self._batches.add(task)
                self._committing += 1
                task.add_done_callback(self._done)
                await asyncio.shield(task)  # closing the writer never cuts a commit short

    def _done(self, task: asyncio.Task) -> None:
        self._batches.discard(task)
        self._committing -= 1

    async def _commit(self, group: list[_Pending], shard: int) -> None:
        try:
            async with self.pool.connection() as conn:
                try:
                    results = await self._run(conn, group[0].batch, [p.row for p in group], shard)
                except REFUSALS:
                    await self._alone(conn, group, shard)
                    return
        except DB_ERRORS as exc:
            self._fail(group, exc)
            return
        except BaseException as exc:  # a bug must not leave requests waiting forever
            self._fail(group, exc)
            raise
        for pending, result in zip(group, results, strict=True):
            if not pending.future.done():  # done: the request was cancelled (client gone)
                pending.future.set_result(result)

    @staticmethod
    async def _run(conn: psycopg.AsyncConnection, batch: Batch, rows: list[bytes], shard: int) -> list[tuple]:
        """One statement for ``rows`` in autocommit: its own transaction, committed (WAL flushed) before
        the server's answer ends, so the results are returned only once they are durable."""
        cur = await conn.execute(batch.sql, {"rows": JsonText(b"[" + b",".join(rows) + b"]"), "shard": shard})
        by_ord = {r[0]: r[1:] for r in await cur.fetchall()}
        return [by_ord[i] for i in range(1, len(rows) + 1)]

    async def _alone(self, conn: psycopg.AsyncConnection, group: list[_Pending], shard: int) -> None:
        """After a refusal: each row alone in its own transaction, each its own answer."""
        for pending in group:
            try:
                (result,) = await self._run(conn, pending.batch, [pending.row], shard)
            except REFUSALS as exc:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            else:
                if not pending.future.done():
                    pending.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(exc)
