"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import psycopg
import pytest

from trackai import db


@pytest.fixture
def two_conns(pg_url: str):
    """Two autocommit connections as the ingest role, as two workers' pool connections would be."""
    conns = [psycopg.connect(db.with_user(pg_url, "trackai_app_rw"), autocommit=True) for _ in range(2)]
    yield conns
    for c in conns:
        c.close()
