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

- Batches in flight: at most ``max_batches`` (one pool connection each). A lone request is sent at once;
  rows arriving while a batch commits queue up, and the next batch takes them all (up to ``max_rows``)
  as soon as a slot is free, waiting at most ``max_wait`` for more while another batch is committing.
  Few batches in flight make big batches: the database's work per row falls steeply with the batch size
  (docs/benchmarks.md). The statements count nothing (the rate limit is decided before a row is queued),
  so any row can go in any batch.
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

    ``sql`` takes ``%(rows)s``, a JSON array of the rows (each a JSON object), and returns one row per
    input row, ``(ord, *result)``, ``ord`` being the 1-based position in the array."""

    name: str
    sql: str


@dataclass(slots=True)
class _Pending:
    batch: Batch
    row: bytes  # one JSON object
    future: asyncio.Future


class GroupCommit:
    """One queue, at most ``max_batches`` batches committing at a time."""

    def __init__(
        self, pool: AsyncConnectionPool, *, max_wait: float, max_rows: int, max_batches: int
    ) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.max_rows = max_rows
        self.max_batches = max_batches
        self._queue: list[_Pending] = []
        self._committing: set[asyncio.Task] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    async def land(self, batch: Batch, row: bytes) -> tuple:
        """The statement's result for this row, once the transaction holding it has committed. Raises the
        row's own REFUSALS error, or a DB_ERRORS one for database trouble."""
        if self._closed:
            raise psycopg.OperationalError("ingest service shutting down")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(batch, row, future))
        self._start()
        return await future

    def _start(self, waited: bool = False) -> None:
        """Start batches while there are rows and free slots. With another batch committing, a batch
        smaller than ``max_rows`` waits ``max_wait`` once for more rows (the timer calls back here)."""
        if waited:
            self._timer = None
        while self._queue and len(self._committing) < self.max_batches and not self._closed:
            if self._committing and len(self._queue) < self.max_rows and not waited:
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self.max_wait, self._start, True)
                return
            waited = False
            taken, self._queue = self._queue[: self.max_rows], self._queue[self.max_rows :]
            task = asyncio.create_task(self._commit_all(taken), name="trackai-group-commit")
            self._committing.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._committing.discard(task)
        if self._queue:
            self._start()

    async def close(self) -> None:
        """Stop taking batches; wait for those committing; fail what is still queued (503)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._committing:
            await asyncio.gather(*self._committing, return_exceptions=True)
        self._fail(self._queue, psycopg.OperationalError("ingest service shutting down"))
        self._queue = []

    async def _commit_all(self, taken: list[_Pending]) -> None:
        """A mixed batch: each kind its own statement, one after the other."""
        groups: dict[Batch, list[_Pending]] = {}
        for pending in taken:
            groups.setdefault(pending.batch, []).append(pending)
        for group in groups.values():
            await self._commit(group)

    async def _commit(self, group: list[_Pending]) -> None:
        try:
            async with self.pool.connection() as conn:
                try:
                    results = await self._run(conn, group[0].batch, [p.row for p in group])
                except REFUSALS:
                    await self._alone(conn, group)
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
    async def _run(conn: psycopg.AsyncConnection, batch: Batch, rows: list[bytes]) -> list[tuple]:
        """One statement for ``rows`` in autocommit: its own transaction, committed (WAL flushed) before
        the server's answer ends, so the results are returned only once they are durable."""
        cur = await conn.execute(batch.sql, {"rows": JsonText(b"[" + b",".join(rows) + b"]")})
        by_ord = {r[0]: r[1:] for r in await cur.fetchall()}
        return [by_ord[i] for i in range(1, len(rows) + 1)]

    async def _alone(self, conn: psycopg.AsyncConnection, group: list[_Pending]) -> None:
        """After a refusal: each row alone in its own transaction, each its own answer."""
        for pending in group:
            try:
                (result,) = await self._run(conn, pending.batch, [pending.row])
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
