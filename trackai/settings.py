"""One settings object for every process (CLI, ingest service, Dagster, dbt wrapper, tests' databases).

Values come from the environment (prefix ``TRACKAI_``) or a git-ignored ``.env``. Every variable the
project reads is a field here, with a description: ``.env.example`` is generated from these classes
(``trackai config env-example``) and CI checks it is current. Groups of knobs are sub-models that keep
their historical names (``TRACKAI_MATCH_THRESHOLD`` is ``settings.match.threshold``). Outside development,
placeholder secrets are refused so a production deploy cannot start with the example values.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "example", "xxx")
ENV_PREFIX = "TRACKAI_"


class SettingsError(ValueError):
    """A configuration value is missing or unsafe; the message says which variable to fix."""


def _group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


class MatchSettings(BaseSettings):
    """How purchases are matched to clicks (Dagster run config can override per run)."""

    model_config = _group("TRACKAI_MATCH_")

    threshold: float = Field(0.6, ge=0, le=1, description="Minimum probabilistic score for a match.")
    window_hours: float = Field(24, gt=0, description="Probabilistic stage: clicks this many hours before.")
    lookback_days: float = Field(30, gt=0, description="Deterministic stage: clicks this many days before.")


class CapiSettings(BaseSettings):
    """Dispatch to Meta's Conversions API."""

    model_config = _group("TRACKAI_CAPI_")

    timeout_seconds: float = Field(1.5, gt=0, description="HTTP timeout of one CAPI request.")
    batch_size: int = Field(
        1000, ge=1, le=1000, description="Events per CAPI request (Meta's maximum: 1000)."
    )
    concurrency: int = Field(4, ge=1, description="CAPI requests in flight per dispatch run.")
    breaker_cooldown_seconds: float = Field(
        60.0, gt=0, description="How long a pixel's circuit breaker stays open before a probe."
    )
    deadline_margin_seconds: float = Field(
        3600.0, ge=0, description="Events this close to Meta's 7-day limit go to the DLQ instead of waiting."
    )


class AlarmSettings(BaseSettings):
    """Alarm thresholds (the Dagster asset checks); see docs/operations.md for each alarm."""

    model_config = _group("TRACKAI_ALARM_")

    dlq_warn: int = Field(5, description="Open DLQ rows above this: WARN.")
    dlq_critical: int = Field(100, description="Open DLQ rows above this: ERROR.")
    breaker_open_minutes: float = Field(3.0, description="A breaker open longer than this: ERROR.")
    token_expiry_hours: float = Field(24.0, description="A Meta token expiring within this: ERROR.")
    webhook_success_min_pct: float = Field(
        95.0, description="Verified / all deliveries of known tenants (%)."
    )
    webhook_window_minutes: int = Field(60, description="Window of the webhook success rate.")
    webhook_min_volume: int = Field(20, description="Below this many deliveries the rate is not judged.")
    backlog_max_pending: int = Field(1000, description="Events waiting for dispatch above this: WARN.")
    latency_p95_max_ms: float = Field(500.0, description="CAPI request p95 above this: WARN.")
    latency_window_minutes: int = Field(60, description="Window of the latency p95.")
    ingest_stale_minutes: int = Field(60, description="An active tenant silent this long: WARN.")
    match_rate_max_drop_pp: float = Field(20.0, description="Today's match rate below the week's by more.")
    match_rate_min_purchases: int = Field(10, description="Purchases needed today and in the week to judge.")
    emq_min: float = Field(6.0, description="Estimated EMQ below this (per tenant): WARN.")
    emq_window_hours: int = Field(48, description="Window of the EMQ estimate.")
    emq_min_events: int = Field(10, description="Events needed in the window to judge EMQ.")
    db_connections_max_ratio: float = Field(0.8, description="Connections / max_connections above this.")
    gx_window_hours: int = Field(24, description="Data contracts validate rows landed in this window.")
    gx_max_rows: int = Field(50000, description="At most this many rows per data contract run.")
    meta_graph_url: str = Field("", description="When set, the token alarm refreshes debug_token first.")


class AlertSettings(BaseSettings):
    """Where failed alarms are sent."""

    model_config = _group("TRACKAI_ALERT_")

    webhook_url: str = Field("", description="Incoming-webhook URL for alarm notifications (empty: off).")
    format: Literal["slack", "pagerduty"] = Field("slack", description="Payload shape of the alert webhook.")


class PipelineSettings(BaseSettings):
    """The micro-batch sensor."""

    model_config = _group("TRACKAI_PIPELINE_")

    settle_seconds: float = Field(5.0, ge=0, description="Landed rows younger than this wait one tick.")
    sensor_default: Literal["running", "stopped"] = Field(
        "running", description="Status the micro-batch sensor ships with."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "production"] = Field(
        "development",
        description="development | production. Production refuses placeholder secrets and the embedded database.",
    )
    debug: bool = Field(False, description="CLI errors print a traceback instead of one line.")
    data_dir: Path = Field(REPO_ROOT / ".trackai", description="Embedded Postgres, dev key and demo logs.")
    sql_dir: Path = Field(
        REPO_ROOT / "sql", description="Ordered migrations applied by `trackai db upgrade`."
    )

    database_url: str | None = Field(
        None, description="Any Postgres. Unset: an embedded Postgres (pgserver) under data_dir, reused."
    )
    ingest_database_url: str | None = Field(
        None, description="The ingest service's connection (least-privilege role trackai_app_rw)."
    )
    dagster_database_url: str | None = Field(
        None, description="Dagster instance storage. Default: database trackai_dagster on the same server."
    )
    test_database_url: str | None = Field(
        None, description="Server the test suite creates throwaway databases on. Default: the embedded one."
    )
    database_name: str = Field("trackai", description="Database name on the embedded server.")
    dagster_database_name: str = Field(
        "trackai_dagster", description="Dagster's database on the embedded server."
    )

    secret_key: str | None = Field(
        None,
        description="Fernet key (urlsafe base64 of 32 bytes) encrypting tenant secrets and quarantined bodies. "
        "Unset in development: generated once under data_dir.",
    )
    secrets_backend: Literal["local", "aws"] = Field(
        "local", description="local (Fernet in Postgres) | aws (AWS Secrets Manager ids, read through boto3)."
    )
    aws_region: str | None = Field(None, description="Region of AWS Secrets Manager (secrets_backend=aws).")

    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL printed in webhook URLs and the tracking snippet."
    )
    trusted_proxies: str = Field(
        "127.0.0.1/32,::1/128", description="Peers whose X-Forwarded-For is trusted (comma-separated CIDRs)."
    )
    webhook_rate_limit_per_min: int = Field(100, ge=1, description="Webhooks per tenant per minute.")
    click_rate_limit_per_min: int = Field(6000, ge=1, description="Clicks per tenant per minute.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body accepted.")
    stripe_tolerance_seconds: int = Field(300, ge=1, description="Stripe-Signature timestamp tolerance.")

    meta_graph_url: str = Field("https://graph.facebook.com", description="Meta Graph API base URL.")
    meta_api_version: str = Field("v25.0", description="Graph API version used for CAPI and debug_token.")

    partition_start_date: date = Field(date(2026, 1, 1), description="First daily partition (UTC).")
    runbook_base_url: str = Field(
        (REPO_ROOT / "docs" / "runbooks").as_uri() + "/",
        description="Where alarm runbook links point. Default: this checkout's docs/runbooks.",
    )
    log_level: str = Field("INFO", description="JSON log level; DEBUG adds one line per event sent to Meta.")
    sentry_dsn: str | None = Field(
        None,
        validation_alias=AliasChoices("TRACKAI_SENTRY_DSN", "SENTRY_DSN"),
        description="Optional Sentry DSN (SENTRY_DSN is read too). No bodies, headers or frame locals are sent.",
    )
    pagerduty_routing_key: str = Field("", description="PagerDuty Events v2 routing key (alert format).")

    match: MatchSettings = Field(default_factory=MatchSettings)
    capi: CapiSettings = Field(default_factory=CapiSettings)
    alarm: AlarmSettings = Field(default_factory=AlarmSettings)
    alert: AlertSettings = Field(default_factory=AlertSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)

    @field_validator("secret_key")
    @classmethod
    def _fernet_shaped(cls, value: str | None) -> str | None:
        if value is None or _looks_like_placeholder(value):
            return value
        try:
            raw = base64.urlsafe_b64decode(value.encode())
        except (binascii.Error, ValueError) as exc:
            raise SettingsError(
                "TRACKAI_SECRET_KEY must be urlsafe base64 of 32 bytes (a Fernet key)"
            ) from exc
        if len(raw) != 32:
            raise SettingsError("TRACKAI_SECRET_KEY must be urlsafe base64 of 32 bytes (a Fernet key)")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> Settings:
        if self.env == "development":
            return self
        if self.secrets_backend == "local" and (
            not self.secret_key or _looks_like_placeholder(self.secret_key)
        ):
            raise SettingsError(
                "TRACKAI_SECRET_KEY is missing or a placeholder; refused when TRACKAI_ENV=production"
            )
        if not self.database_url:
            raise SettingsError(
                "TRACKAI_DATABASE_URL must be set when TRACKAI_ENV=production (no embedded Postgres)"
            )
        for name in ("database_url", "ingest_database_url", "dagster_database_url"):
            value = getattr(self, name)
            if value and _looks_like_placeholder(value):
                raise SettingsError(f"TRACKAI_{name.upper()} looks like a placeholder; refused in production")
        return self

    @property
    def uses_embedded_database(self) -> bool:
        return not self.database_url


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests change the environment; this makes the next get_settings() read it again."""
    get_settings.cache_clear()


def env_example() -> str:
    """The text of ``.env.example``: every variable, its default and its description, from the classes above."""
    lines = [
        "# Generated from trackai/settings.py by `trackai config env-example > .env.example`; CI checks it.",
        "# Copy to .env (git-ignored) or export these. Every variable is optional in development.",
    ]
    groups: list[tuple[str, type[BaseSettings]]] = []
    for name, field in Settings.model_fields.items():
        sub = field.annotation if isinstance(field.annotation, type) else None
        if sub is not None and issubclass(sub, BaseSettings):
            groups.append((name, sub))
            continue
        variable = ENV_PREFIX + name.upper()
        lines += ["", f"# {field.description}", _assignment(variable, field.default)]
    for _, sub in groups:
        prefix = sub.model_config.get("env_prefix", "")
        lines += ["", f"# --- {(sub.__doc__ or '').strip()}"]
        for name, field in sub.model_fields.items():
            lines += [f"# {field.description}", _assignment(prefix + name.upper(), field.default)]
    return "\n".join(lines) + "\n"


def _assignment(variable: str, default: object) -> str:
    if default is None or default == "":
        return f"# {variable}="
    if isinstance(default, Path):
        return f"# {variable}=<repo>/{default.relative_to(REPO_ROOT)}"
    if isinstance(default, bool):
        default = str(default).lower()
    if variable == ENV_PREFIX + "RUNBOOK_BASE_URL":
        return f"# {variable}=file://<repo>/docs/runbooks/"
    return f"{variable}={default}"
