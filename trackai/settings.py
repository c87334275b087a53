"""One settings object for every process (CLI, ingest service, Dagster, dbt wrapper).

Values come from the environment (prefix ``TRACKAI_``) or a git-ignored ``.env``. Outside development,
placeholder secrets are refused so a production deploy cannot start with the example values.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "example", "xxx")


class SettingsError(ValueError):
    """A configuration value is missing or unsafe; the message says which variable to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACKAI_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = REPO_ROOT / ".trackai"
    sql_dir: Path = REPO_ROOT / "sql"

    # Databases: unset URL -> embedded Postgres (pgserver) under data_dir.
    database_url: str | None = None
    ingest_database_url: str | None = None  # e.g. connect as trackai_app_rw
    dagster_database_url: str | None = None
    database_name: str = "trackai"
    dagster_database_name: str = "trackai_dagster"

    # Secrets at rest: Fernet key (urlsafe base64 of 32 bytes), or AWS Secrets Manager references.
    secret_key: str | None = None
    secrets_backend: Literal["local", "aws"] = "local"
    aws_region: str | None = None

    public_base_url: str = "http://127.0.0.1:8000"
    trusted_proxies: str = "127.0.0.1/32,::1/128"
    webhook_rate_limit_per_min: int = Field(default=100, ge=1)
    click_rate_limit_per_min: int = Field(default=6000, ge=1)
    max_body_bytes: int = 1024 * 1024
    stripe_tolerance_seconds: int = 300

    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v25.0"
    capi_timeout_seconds: float = 1.5

    log_level: str = "INFO"
    sentry_dsn: str | None = None

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
