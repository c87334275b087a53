"""Database URLs and connections shared by every process.

``TRACKAI_DATABASE_URL`` selects any Postgres; when it is unset the embedded default is started.
Every process says which database it uses (``describe``), with the password masked.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from trackai import embedded_pg
from trackai.settings import Settings, SettingsError, get_settings


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (query string, e.g. ``host=/socket``, kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def with_user(url: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = user if password is None else f"{user}:{password}"
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def describe(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        auth, host = netloc.rsplit("@", 1)
        user = auth.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in auth and auth.split(":", 1)[1] else f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def server_url(settings: Settings | None = None) -> str:
    """URL of the server's maintenance database (``postgres``), starting the embedded one if needed."""
    settings = settings or get_settings()
    if settings.database_url:
        return with_database(settings.database_url, "postgres")
    return embedded_pg.ensure_running(settings.data_dir)


def ensure_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` on the server of ``admin_url`` if missing; returns whether it was created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
        return True


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_announced: set[str] = set()


def database_url(settings: Settings | None = None, *, announce: bool = False) -> str:
    """The application database URL; with the embedded default the database is created on first use."""
    settings = settings or get_settings()
    if settings.database_url:
        url = settings.database_url
    else:
        url = with_database(server_url(settings), settings.database_name)
        ensure_database(server_url(settings), settings.database_name)
    if announce and url not in _announced:
        _announced.add(url)
        kind = "embedded Postgres" if settings.uses_embedded_database else "Postgres"
        print(f"trackai: using {kind} at {describe(url)}", file=sys.stderr)
    return url


def dagster_database_url(settings: Settings | None = None) -> str:
    """Dagster's instance storage: its own database on the same server unless configured."""
    settings = settings or get_settings()
    if settings.dagster_database_url:
        return settings.dagster_database_url
    admin = server_url(settings)
    ensure_database(admin, settings.dagster_database_name)
    base = settings.database_url or admin
    return with_database(base, settings.dagster_database_name)


def ingest_database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.ingest_database_url or database_url(settings)


def pipeline_database_url(settings: Settings | None = None) -> str:
    """Dagster's connection (role trackai_pipeline, sql/0531): TRACKAI_PIPELINE_DATABASE_URL; in
    development the main URL when unset, in production it must be set (never the owner role)."""
    settings = settings or get_settings()
    if settings.pipeline_database_url:
        return settings.pipeline_database_url
    _refuse_owner_fallback(settings, "TRACKAI_PIPELINE_DATABASE_URL", "Dagster", "trackai_pipeline")
    return database_url(settings)


def dbt_database_url(settings: Settings | None = None, *, default: str | None = None) -> str:
    """dbt's connection (role trackai_dbt): TRACKAI_DBT_DATABASE_URL; in development ``default`` (the
    caller's URL) or the main URL when unset, in production it must be set."""
    settings = settings or get_settings()
    if settings.dbt_database_url:
        return settings.dbt_database_url
    _refuse_owner_fallback(settings, "TRACKAI_DBT_DATABASE_URL", "dbt", "trackai_dbt")
    return default or database_url(settings)


def _refuse_owner_fallback(settings: Settings, variable: str, who: str, role: str) -> None:
    if settings.env == "production":
        raise SettingsError(f"{variable} must be set when TRACKAI_ENV=production: {who} connects as {role}")


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    """Autocommit by default: use ``with conn.transaction():`` for atomic work (never an implicit one)."""
    conn = psycopg.connect(url or database_url(), autocommit=autocommit)
    try:
        yield conn
    finally:
        conn.close()
