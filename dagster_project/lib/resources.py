"""Dagster resources: the application database and Meta's Graph API, configured from trackai's Settings.

A field left empty means "Settings decides when the resource is used" (environment or ``.env``, read by
``trackai.settings``), never at import. ``env_var_or`` passes a variable that is set as an unresolved
``dg.EnvVar``: Dagster resolves it when a run or sensor uses the resource, and the UI shows the variable's
name, not its value (webhook URLs and routing keys are secrets).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg

from trackai.settings import Settings, get_settings


def env_var_or(name: str, default: str = "") -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` when the variable is set in this environment, else ``default``.

    Only presence is checked here; the value is read by Dagster when the resource is used. A variable
    that is unset (or only in ``.env``) leaves the field empty, and the resource falls back to Settings
    (an unset ``dg.EnvVar`` would fail every run and sensor tick instead)."""
    return dg.EnvVar(name) if name in os.environ else default


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


class MetaCapiResource(dg.ConfigurableResource):
    """Meta's Graph API as the dispatch step calls it (Conversions API).

    Empty fields fall back to Settings when the step runs: TRACKAI_META_GRAPH_URL,
    TRACKAI_META_API_VERSION, TRACKAI_CAPI_TIMEOUT_SECONDS. Batching, concurrency and the breaker stay
    in ``settings.capi`` (DispatchOptions)."""

    graph_url: str = ""
    api_version: str = ""
    timeout_seconds: float | None = None

    def settings(self, base: Settings | None = None) -> Settings:
        """``base`` (default: the process Settings) with this resource's fields applied."""
        base = base or get_settings()
        capi = base.capi
        if self.timeout_seconds:
            capi = capi.model_copy(update={"timeout_seconds": self.timeout_seconds})
        return base.model_copy(
            update={
                "meta_graph_url": self.graph_url or base.meta_graph_url,
                "meta_api_version": self.api_version or base.meta_api_version,
                "capi": capi,
            }
        )


def meta_capi_resource() -> MetaCapiResource:
    """The code location's resource: explicit environment variables as unresolved EnvVars."""
    return MetaCapiResource(
        graph_url=env_var_or("TRACKAI_META_GRAPH_URL"), api_version=env_var_or("TRACKAI_META_API_VERSION")
    )
