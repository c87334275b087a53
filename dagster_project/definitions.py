"""The ``trackai`` code location, built lazily (nothing touches the database or parses dbt at import).

Each domain package ``dagster_project/defs/<domain>/`` exposes ``build_defs() -> Definitions``; domains not
present yet are skipped. Shared resources: ``postgres`` (the application database); the domains add
theirs (``meta_capi``, ``dbt``, ``alarm_thresholds``, ``alert_notifier``). Names: dagster_project/lib/keys.py.
"""

from __future__ import annotations

import importlib
import importlib.util

import dagster as dg

DOMAINS = (
    "sources",
    "pipeline",
    "dispatch",
    "dbt",
    "quality",
    "verification",
    "lifecycle",
    "match_quality",
    "privacy",  # issue 23
    "provisioning",  # issue 17
    "billing",  # issue 18
)


def build_all_defs() -> dg.Definitions:
    from dagster_project.lib.resources import PostgresResource
    from trackai.observability import configure_json_logging, init_sentry
    from trackai.settings import get_settings

    # Code server and run workers both build the definitions: both log JSON and report to Sentry.
    configure_json_logging("trackai")
    settings = get_settings()
    init_sentry("dagster", dsn=settings.sentry_dsn, environment=settings.env)

    parts: list[dg.Definitions] = []
    for domain in DOMAINS:
        name = f"dagster_project.defs.{domain}"
        if importlib.util.find_spec(name) is None:
            continue
        build = getattr(importlib.import_module(name), "build_defs", None)
        if build is not None:
            parts.append(build())
    return dg.Definitions.merge(*parts, dg.Definitions(resources={"postgres": PostgresResource()}))


@dg.definitions
def defs() -> dg.Definitions:
    return build_all_defs()
