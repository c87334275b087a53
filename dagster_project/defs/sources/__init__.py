"""Tables Dagster reads but does not write (external assets), so the lineage starts where the data does.

* group ``landing``: what the ingest service writes (clicks, identities, webhook deliveries, conversions,
  refused webhooks);
* group ``config``: sellers and their encrypted secrets, maintained with ``trackai tenants`` / the console;
* group ``platform``: the Postgres server itself (target of the connection-count alarm).

The micro-batch, dispatch and the dbt sources depend on these keys (``dagster_project.lib.keys``).
"""

from __future__ import annotations

import dagster as dg

from dagster_project.lib import keys

_INGEST = "Written by the ingest service (FastAPI), never by Dagster."


def _landing(key: dg.AssetKey, description: str, deps: list[dg.AssetKey] | None = None) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=deps or [],
        group_name=keys.LANDING_GROUP,
        kinds={"postgres"},
        description=f"{description} {_INGEST}",
    )


SPECS: tuple[dg.AssetSpec, ...] = (
    _landing(
        keys.CLICKS,
        "Landing-page clicks, pageviews and leads: session id, fbclid, fbc built at click time, IP, user"
        " agent (PII only as SHA-256 hex).",
    ),
    _landing(keys.IDENTITIES, "Hashed e-mail/phone seen for a session (lead forms, clicks carrying them)."),
    _landing(keys.WEBHOOK_EVENTS, "Every verified gateway delivery, once (redacted payload)."),
    _landing(
        keys.CONVERSIONS,
        "Normalised purchases and status changes: one row per delivery that maps to an order.",
        deps=[keys.WEBHOOK_EVENTS],
    ),
    _landing(
        keys.WEBHOOK_REJECTIONS,
        "Refused webhooks counted per minute, tenant, gateway, reason and status (the success-rate alarm).",
    ),
    dg.AssetSpec(
        keys.TENANTS,
        group_name=keys.CONFIG_GROUP,
        kinds={"postgres"},
        description="Sellers: pixel id, test event code, active flag. Maintained with `trackai tenants`.",
    ),
    dg.AssetSpec(
        keys.TENANT_SECRETS,
        deps=[keys.TENANTS],
        group_name=keys.CONFIG_GROUP,
        kinds={"postgres"},
        description="Each seller's Meta token and gateway secrets, Fernet-encrypted or an AWS Secrets"
        " Manager reference; dispatch reads the Meta token. Maintained with `trackai tenants`.",
    ),
    dg.AssetSpec(
        keys.POSTGRES_SERVER,
        group_name=keys.PLATFORM_GROUP,
        kinds={"postgres"},
        description="The application's Postgres server (not a table): the db_connections alarm watches"
        " its connection count against max_connections.",
    ),
)


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=list(SPECS))
