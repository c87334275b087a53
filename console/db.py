"""The console's database access: one pool of connections as the role trackai_console, and one
transaction per request that names its tenant.

Every page query runs inside ``tenant_tx`` (or ``operator_tx``): ``set_config(..., true)`` is
transaction-local, so the tenant of one request can never leak into the next request served by the same
pooled connection, and a query outside such a transaction sees no tenant rows at all (the policies of
sql/0602 fail closed). ``auth_tx`` names no tenant: it only calls the SECURITY DEFINER entry points of
sql/0601 (login, sessions, invites).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from trackai import db as trackai_db
from trackai.settings import Settings

ROLE = "trackai_console"


def console_database_url(settings: Settings) -> str:
    """TRACKAI_CONSOLE_DATABASE_URL, else the main database URL logged in as trackai_console."""
    if settings.console.database_url:
        return settings.console.database_url
    return trackai_db.with_user(trackai_db.database_url(settings), ROLE)


def refuse_privileged(conn: psycopg.Connection) -> None:
    """Row-level security does not apply to a superuser or a BYPASSRLS role: the console refuses both."""
    row = conn.execute(
        "SELECT current_user AS who, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user"
    ).fetchone()
    who, superuser, bypass = (
        (row["who"], row["rolsuper"], row["rolbypassrls"]) if isinstance(row, dict) else row
    )
    if superuser or bypass:
        raise RuntimeError(
            f"the console must not connect as {who} (superuser or BYPASSRLS): row-level security would not "
            "apply. Use the role trackai_console (TRACKAI_CONSOLE_DATABASE_URL)."
        )


class Database:
    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: ConnectionPool | None = None

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            raise RuntimeError("the console's database pool is not open (app lifespan not started)")
        return self._pool

    def open(self) -> None:
        """A fresh pool per app start (an app may be started again, e.g. in tests)."""
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="console",
        )
        self.pool.open(wait=True, timeout=30)
        with self.pool.connection() as conn:
            refuse_privileged(conn)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def tenant_tx(self, tenant_id: str) -> Iterator[psycopg.Connection]:
        """A transaction that sees exactly one tenant's rows."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('app.tenant_id', %s, true), set_config('app.operator', 'off', true)",
                (str(tenant_id),),
            )
            yield conn

    @contextmanager
    def operator_tx(self) -> Iterator[psycopg.Connection]:
        """The explicit operator bypass (SELECT only, sql/0602): every tenant's rows."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('app.tenant_id', '', true), set_config('app.operator', 'on', true)"
            )
            yield conn

    @contextmanager
    def auth_tx(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn, conn.transaction():
            yield conn
