"""Dagster resources wrapping the shared database access (trackai.db)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg


class PostgresResource(dg.ConfigurableResource):
    """The application database. ``url`` empty -> TRACKAI_DATABASE_URL or the embedded default."""

    url: str = ""

    def resolved_url(self) -> str:
        from trackai import db

        return self.url or db.pipeline_database_url()  # role trackai_pipeline (issue 22)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """Autocommit connection: wrap atomic work in ``with conn.transaction():``."""
        with psycopg.connect(self.resolved_url(), autocommit=True) as conn:
            yield conn
