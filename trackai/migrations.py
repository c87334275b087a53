"""Ordered plain-SQL migrations from ``sql/``: each in its own transaction, recorded with a checksum.

Re-running is a no-op; a migration edited after it was applied is refused (write a new one instead,
see docs/migrations.md). Migrations run as ``trackai_migration_admin`` so it owns every object,
except files whose first line is ``-- trackai: as-connected-user`` (role bootstrap).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
AS_CONNECTED_USER = "-- trackai: as-connected-user"
ADVISORY_LOCK_KEY = 7_420_001  # one upgrader at a time per database

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text NOT NULL DEFAULT current_user,
    duration_ms integer NOT NULL
);
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class MigrationStatus:
    migration: Migration
    applied_at: str | None
    edited: bool

    @property
    def state(self) -> str:
        if self.applied_at is None:
            return "pending"
        return "EDITED" if self.edited else "applied"


def discover(sql_dir: Path) -> list[Migration]:
    found: dict[str, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        version, name = match.groups()
        if version in found:
            raise MigrationError(
                f"two migrations share version {version}: {found[version].filename}, {path.name}"
            )
        found[version] = Migration(version, name, path)
    return [found[v] for v in sorted(found)]


def _applied(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    conn.execute(BOOTSTRAP)
    rows = conn.execute("SELECT version, checksum, applied_at::text FROM ops.schema_migrations").fetchall()
    return {version: (checksum, applied_at) for version, checksum, applied_at in rows}


# Read-only lookups of what is applied, tried in order by roles that may not create or read the table.
_TABLE_EXISTS = """
WITH ns AS (SELECT oid, nspname, has_schema_privilege(oid, 'USAGE') AS usable FROM pg_namespace),
fn AS (
    SELECT ns.nspname, ns.usable AND has_function_privilege(p.oid, 'EXECUTE') AS callable
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
     WHERE (ns.nspname, p.proname) IN (('ops', 'migration_status'), ('landing', 'applied_migrations'))
       AND p.pronargs = 0
)
SELECT c.oid IS NOT NULL AS present,
       coalesce(ns.usable AND has_table_privilege(c.oid, 'SELECT'), false) AS readable,
       coalesce((SELECT callable FROM fn WHERE nspname = 'ops'), false) AS status_fn,
       coalesce((SELECT callable FROM fn WHERE nspname = 'landing'), false) AS versions_fn,
       current_user
  FROM (SELECT 1) one
  LEFT JOIN ns ON ns.nspname = 'ops'
  LEFT JOIN pg_class c ON c.relname = 'schema_migrations' AND c.relnamespace = ns.oid
"""


def applied_read_only(conn: psycopg.Connection) -> dict[str, tuple[str | None, str | None]]:
    """Applied versions -> (checksum, applied_at) without DDL: any role that may connect gets an answer.

    No tracking table yet: nothing applied. The owner (or any role with SELECT) reads the table; the
    least-privilege roles call ``ops.migration_status()`` (sql/1400) and the ingest role
    ``landing.applied_migrations()`` (versions only: checksum and time are None). A role with none of
    these gets a MigrationError that names it and what to grant.
    """
    present, readable, status_fn, versions_fn, who = conn.execute(_TABLE_EXISTS).fetchone()
    if not present:
        return {}
    if readable:
        sql = "SELECT version, checksum, applied_at::text FROM ops.schema_migrations"
    elif status_fn:
        sql = "SELECT version, checksum, applied_at FROM ops.migration_status()"
    elif versions_fn:
        sql = "SELECT v, NULL, NULL FROM landing.applied_migrations() AS v"
    else:
        raise MigrationError(
            f"role {who} cannot read the applied migrations: grant it EXECUTE on ops.migration_status() "
            "(sql/1400_migration_status_read_only.sql) or check migrations as the owner role"
        )
    return {version: (checksum, applied_at) for version, checksum, applied_at in conn.execute(sql)}


def status(url: str, sql_dir: Path) -> list[MigrationStatus]:
    """Each migration file with its state; read only (no DDL, works as any role that may connect)."""
    migrations = discover(sql_dir)
    with psycopg.connect(url) as conn:
        applied = applied_read_only(conn)
        conn.rollback()
    out = []
    for m in migrations:
        record = applied.get(m.version)
        out.append(
            MigrationStatus(
                m,
                (record[1] or "applied") if record else None,
                bool(record and record[0] is not None and record[0] != m.checksum),
            )
        )
    return out


def pending_count(url: str, sql_dir: Path) -> int:
    """How many migration files are not applied yet; read only (see status())."""
    return sum(1 for s in status(url, sql_dir) if s.applied_at is None)


def upgrade(url: str, sql_dir: Path) -> list[Migration]:
    """Apply pending migrations in order; returns those applied (empty when up to date)."""
    migrations = discover(sql_dir)
    applied_now: list[Migration] = []
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            applied = _applied(conn)
            conn.commit()
            for m in migrations:
                record = applied.get(m.version)
                if record is not None:
                    if record[0] != m.checksum:
                        raise MigrationError(
                            f"{m.filename} was edited after it was applied on {record[1]} "
                            f"(recorded checksum {record[0][:12]}…, file now {m.checksum[:12]}…). "
                            "Applied migrations are immutable: restore the file and add a new migration."
                        )
                    continue
                _apply(conn, m)
                applied_now.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            conn.commit()
    return applied_now


def _apply(conn: psycopg.Connection, m: Migration) -> None:
    body = m.sql
    started = time.perf_counter()
    try:
        with conn.transaction():
            if not body.startswith(AS_CONNECTED_USER):
                conn.execute("SET LOCAL ROLE trackai_migration_admin")
            conn.execute(body)
            conn.execute("RESET ROLE")
            conn.execute(
                "INSERT INTO ops.schema_migrations (version, name, checksum, duration_ms) VALUES (%s, %s, %s, %s)",
                (m.version, m.name, m.checksum, int((time.perf_counter() - started) * 1000)),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{m.filename} failed and was rolled back: {exc}".strip()) from exc
