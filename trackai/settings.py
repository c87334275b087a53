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
from urllib.parse import parse_qs, unquote, urlsplit

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

    threshold: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Minimum confidence of a probabilistic match (below it the stage abstains; docs/matching.md).",
    )
    window_hours: float = Field(24, gt=0, description="Probabilistic stage: clicks this many hours before.")
    lookback_days: float = Field(30, gt=0, description="Deterministic stage: clicks this many days before.")
    # --- issue 14 (ambiguity-aware matching): what a match may send to Meta -------------------------------
    send_min_confidence: float = Field(
        0.9,
        ge=0,
        le=1,
        description="A matched click's fbc/fbp/IP/UA go to Meta only at or above this match confidence; "
        "below it the purchase is sent with its own data only.",
    )


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


# --- Purchase verification (issue 22, finding 3). Owner: trackai/verification. ---
class VerifySettings(BaseSettings):
    """Purchase verification before dispatch (trackai.verification; docs/runbooks/purchase-verification.md)."""

    model_config = _group("TRACKAI_VERIFY_")

    unverifiable_policy: Literal["send", "hold"] = Field(
        "send",
        description="Default for tenants without their own policy: send or hold purchases that cannot be verified.",
    )
    amount_min_ratio: float = Field(0.1, gt=0, description="Funnel check: amount >= this x a known price.")
    amount_max_ratio: float = Field(2.0, gt=0, description="Funnel check: amount <= this x a known price.")
    api_amount_tolerance: float = Field(
        0.01, ge=0, description="Sales API check: relative amount difference tolerated."
    )
    not_found_grace_minutes: float = Field(
        15.0, ge=0, description="A sale the gateway's API does not know is retried this long, then rejected."
    )
    api_give_up_minutes: float = Field(
        60.0, ge=0, description="A failing sales API is retried this long, then the funnel check decides."
    )
    api_timeout_seconds: float = Field(5.0, gt=0, description="HTTP timeout of one sales-API request.")
    api_max_calls_per_run: int = Field(500, ge=1, description="Sales-API lookups per verification run.")
    hotmart_api_url: str = Field("https://developers.hotmart.com", description="Hotmart API base URL.")
    hotmart_auth_url: str = Field(
        "https://api-sec-vlc.hotmart.com", description="Hotmart OAuth (token) base URL."
    )
    kiwify_api_url: str = Field("https://public-api.kiwify.com", description="Kiwify public API base URL.")
    source_allowlist: str = Field(
        "",
        description="Webhook source networks per gateway, e.g. hotmart=203.0.113.0/24;perfectpay=198.51.100.7 "
        "(unlisted gateway: any address).",
    )
    alarm_window_minutes: int = Field(60, ge=1, description="Window of the verification anomaly alarm.")
    alarm_max_anomalies: int = Field(
        0, ge=0, description="Rejected/held/unverifiable purchases tolerated in the window before WARN."
    )

    @field_validator("source_allowlist")
    @classmethod
    def _parse_allowlist(cls, value: str) -> str:
        from trackai.verification.allowlist import parse_allowlists

        try:
            parse_allowlists(value)
        except ValueError as exc:
            raise SettingsError(f"TRACKAI_VERIFY_SOURCE_ALLOWLIST: {exc}") from exc
        return value


# --- Seller console (issue 15) and Meta's Dataset Quality pull. Owner: console/, trackai/console_data/. ---
class ConsoleSettings(BaseSettings):
    """The seller console (`trackai console`; docs/console.md)."""

    model_config = _group("TRACKAI_CONSOLE_")

    host: str = Field("127.0.0.1", description="Address the console listens on.")
    port: int = Field(8090, ge=1, le=65535, description="Port the console listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8090",
        description="Base URL of the console (invite links; https makes cookies Secure).",
    )
    database_url: str | None = Field(
        None,
        description="The console's connection (role trackai_console, row-level security). "
        "Unset: the main URL with user trackai_console.",
    )
    session_secret: str | None = Field(
        None,
        min_length=32,
        description="Signs session and CSRF cookies (32+ chars). Unset: derived from TRACKAI_SECRET_KEY.",
    )
    session_hours: float = Field(
        12.0, gt=0, description="A login lasts this long (signed cookie and server side)."
    )
    cookie_secure: Literal["auto", "true", "false"] = Field(
        "auto", description="Secure cookies: auto = when public_url is https."
    )
    login_max_failures_email: int = Field(
        5, ge=1, description="Failed logins per e-mail per window before 429."
    )
    login_max_failures_ip: int = Field(
        30, ge=1, description="Failed logins per client IP per window before 429."
    )
    login_window_minutes: int = Field(15, ge=1, description="Window of the login rate limits.")
    invite_hours: float = Field(72.0, gt=0, description="Invite and password-reset links expire after this.")
    page_size: int = Field(50, ge=5, le=500, description="Rows per page (purchases, failures).")
    refresh_seconds: int = Field(15, ge=2, description="Open pages refresh their counts this often.")
    timezone: str = Field("America/Sao_Paulo", description="Time zone of the times shown (days stay UTC).")
    pool_size: int = Field(4, ge=1, description="Database connections kept by one console process.")


class MetaQualitySettings(BaseSettings):
    """Meta's Event Match Quality, pulled daily from the Dataset Quality API (dagster_project/defs/match_quality)."""

    model_config = _group("TRACKAI_META_QUALITY_")

    agent_name: str = Field("", description="Dataset Quality API agent_name filter (empty: every event).")
    pull_cron: str = Field("0 6 * * *", description="When the daily pull runs (cron, UTC).")
    drift_max_points: float = Field(
        2.0, gt=0, description="Estimated vs Meta's EMQ apart by more than this (same day): WARN."
    )


# --- Setup assistant (issue 16). Owner: trackai/setup. docs/setup-assistant.md ---
class SetupSettings(BaseSettings):
    """The setup tools (CLI, console wizard, MCP server), their transcript and support cases."""

    model_config = _group("TRACKAI_SETUP_")

    failure_threshold: int = Field(
        3, ge=1, description="Consecutive failures of one step that open a support case (one per streak)."
    )
    probe_timeout_seconds: float = Field(
        8.0, gt=0, description="Per-request timeout of probe_landing_url and check_pixel_presence."
    )
    probe_max_hops: int = Field(10, ge=1, le=30, description="Redirects probe_landing_url follows at most.")
    probe_ca_file: Path | None = Field(
        None, description="Extra CA bundle the landing probes trust (tests; empty: the system's)."
    )
    webhook_window_hours: float = Field(
        24.0, gt=0, description="validate_gateway_webhook looks at deliveries and refusals this recent."
    )
    webhook_wait_seconds: float = Field(
        0.0,
        ge=0,
        le=900,
        description="Default wait for a test delivery in validate_gateway_webhook (0: none).",
    )
    test_event_code: str = Field(
        "",
        description="Meta test_event_code for send_test_capi_event when the tenant has none (Events Manager).",
    )
    database_url: str | None = Field(
        None,
        description="Connection the console wizard runs the tools with (reads secrets, records attempts, "
        "transcript). Unset: the main database URL.",
    )


# --- LGPD and clean signals (issue 23). Owner: trackai/privacy. docs/privacy.md ---
class PrivacySettings(BaseSettings):
    """Data-subject requests (deadline alarm), retention of quarantined bodies, bot flags at ingest."""

    model_config = _group("TRACKAI_PRIVACY_")

    request_deadline_days: int = Field(
        15, ge=1, description="Days to answer a data-subject request (LGPD Art. 19)."
    )
    alarm_days_before: float = Field(
        3.0, ge=0, description="An open request this many days before its deadline raises the ERROR alarm."
    )
    quarantine_retention_days: int = Field(
        30, ge=1, description="Encrypted quarantined webhook bodies older than this are deleted."
    )
    bot_max_clicks_per_session_per_min: int = Field(
        20,
        ge=2,
        description="More clicks than this from one session in a minute: flagged as a bot (impossible rate).",
    )
    report_dir: str = Field(
        ".trackai/privacy", description="Where exported data-subject reports are written (0700 directory)."
    )
    database_url: str = Field(
        "",
        description="Connection that serves data-subject requests from the console's operator screen (reads and "
        "erases across landing/core/ops; empty: the main database URL; required in production).",
    )


# --- Durability and data lifecycle (issue 19). Owner: trackai/lifecycle. docs/backups.md ---
class ProvisionSettings(BaseSettings):
    """Provisioning (issue 17, docs/provisioning.md): Cloudflare DNS, the Stape server container, the GTM web container."""

    model_config = _group("TRACKAI_PROVISION_")

    cf_api_url: str = Field(
        "https://api.cloudflare.com/client/v4", description="Cloudflare API v4 base URL (a fake in tests)."
    )
    cf_api_token: str = Field(
        "",
        validation_alias=AliasChoices("TRACKAI_PROVISION_CF_API_TOKEN", "CF_API_TOKEN"),
        description="Cloudflare API token with DNS edit on the zone (CF_API_TOKEN is read too). A Fernet token "
        "(gAAAA...), a Secrets Manager id with TRACKAI_SECRETS_BACKEND=aws, or plain text in development.",
    )
    cf_base_domain: str = Field(
        "",
        validation_alias=AliasChoices("TRACKAI_PROVISION_CF_BASE_DOMAIN", "CF_BASE_DOMAIN"),
        description="Records are {slug}.track.<this> (CF_BASE_DOMAIN is read too); its zone is looked up by name.",
    )
    stape_api_url: str = Field("https://api.app.stape.io/api/v2", description="Stape API base URL.")
    stape_api_key: str = Field(
        "",
        validation_alias=AliasChoices("TRACKAI_PROVISION_STAPE_API_KEY", "STAPE_API_KEY"),
        description="Stape account API key, sent as X-AUTH-TOKEN (STAPE_API_KEY is read too; same forms as the "
        "Cloudflare token).",
    )
    stape_zone: str = Field("global", description="Stape server region of new containers.")
    stape_cname_target: str = Field(
        "global.stape.io", description="What the tenant's CNAME points at (the Stape region's domain host)."
    )
    stape_deadline_seconds: float = Field(
        600.0, gt=0, description="A Stape container not active this long after creation: the run rolls back."
    )
    stape_poll_seconds: float = Field(10.0, gt=0, description="Stape container status is polled this often.")
    gtm_api_url: str = Field(
        "https://tagmanager.googleapis.com/tagmanager/v2", description="Google Tag Manager API v2 base URL."
    )
    gtm_account_id: str = Field("", description="GTM account that holds the sellers' web containers.")
    gtm_service_account: str = Field(
        "",
        description="Google service-account key JSON with Tag Manager access: a Fernet token, a Secrets Manager "
        "id (TRACKAI_SECRETS_BACKEND=aws), or the JSON itself in development.",
    )
    gtm_token_url: str = Field("", description="OAuth token endpoint (empty: the key's token_uri).")
    ga4_measurement_id: str = Field(
        "", description="GA4 measurement id of the GTM template's server-side tags (empty: G-<pixel id>)."
    )
    http_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one provisioning API request.")
    max_retries: int = Field(
        4, ge=0, le=10, description="Retries of one API request on 429/5xx/timeouts (429 waits Retry-After)."
    )
    retry_max_wait_seconds: float = Field(
        60.0, gt=0, description="Longest wait between retries (a longer Retry-After fails the request)."
    )


class LifecycleSettings(BaseSettings):
    """Backups (base backup + WAL archive on S3), restore drills, daily partitions and the Parquet archive."""

    model_config = _group("TRACKAI_LIFECYCLE_")

    s3_bucket: str = Field(
        "", description="Bucket holding backups and the archive (empty: lifecycle jobs off)."
    )
    s3_endpoint_url: str = Field(
        "", description="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (empty: AWS for the region)."
    )
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_sse: Literal["AES256", "aws:kms", "none"] = Field(
        "AES256", description="Server-side encryption asked on every object (none: the store has no SSE)."
    )
    s3_kms_key_id: str = Field(
        "", description="KMS key for s3_sse=aws:kms (empty: the bucket's default key)."
    )
    backup_prefix: str = Field("backups/", description="Key prefix of base backups, WAL and drill reports.")
    archive_prefix: str = Field(
        "archive/", description="Key prefix of the Parquet archive (one object per day)."
    )
    backup_database_url: str | None = Field(
        None,
        description="Connection for pg_basebackup, restore points and drill checksums (REPLICATION, "
        "pg_read_all_data). Unset: the main URL.",
    )
    backup_retention_days: float = Field(7, gt=0, description="Point-in-time recovery window kept (days).")
    backup_cron: str = Field("0 3 * * *", description="When the daily base backup runs (cron, UTC).")
    backup_max_age_hours: float = Field(
        26, gt=0, description="No verified base backup younger than this: ERROR (backup freshness alarm)."
    )
    wal_max_lag_minutes: float = Field(
        15,
        gt=0,
        description="WAL not archived for this long, or archiving failing: ERROR (backup freshness).",
    )
    wal_archive_wait_s: float = Field(
        120,
        ge=0,
        description="A base backup waits this long for its last WAL segment to reach the archive "
        "(0: no wait).",
    )
    drill_cron: str = Field(
        "0 4 1,15 * *", description="When the restore drill runs (cron, UTC; fortnightly)."
    )
    drill_max_age_days: float = Field(
        16, gt=0, description="No green restore drill younger than this: ERROR."
    )
    drill_dir: Path | None = Field(None, description="Where drills restore (empty: <data_dir>/restore).")
    pg_bin_dir: Path | None = Field(
        None, description="Postgres client/server binaries of the source's major version (empty: pgserver's)."
    )
    backup_chunk_mib: int = Field(
        64, ge=1, le=1024, description="Base backups are uploaded in chunks of this size."
    )
    hot_window_days: int = Field(
        30, ge=8, description="Days kept in Postgres; older daily partitions are archived, verified, dropped."
    )
    partitions_ahead_days: int = Field(7, ge=1, le=90, description="Daily partitions created ahead of today.")
    archive_cron: str = Field(
        "30 2 * * *", description="When partitions are created ahead and archived (cron)."
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
    # --- Least-privilege roles of Dagster and dbt (issue 22, finding 7): sql/0531, sql/0532. ---
    pipeline_database_url: str | None = Field(
        None,
        description="Dagster's connection (role trackai_pipeline). Unset: the main URL in development; "
        "required in production.",
    )
    dbt_database_url: str | None = Field(
        None,
        description="dbt's connection (role trackai_dbt). Unset: the caller's URL in development; "
        "required in production.",
    )
    # --- Ops exporter (issue 20; trackai/ops_metrics.py, sql/0801). Owner: deploy. ---
    metrics_database_url: str | None = Field(
        None,
        description="The ops exporter's connection (role trackai_metrics). Unset: the main URL in "
        "development; required in production.",
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

    # --- Ingest hardening (issue 22, findings 2, 4, 5, 6). Owner: ingest_service. docs/security.md ---
    # Per-visitor budgets are counted per worker, per (tenant, address); an IPv6 address counts by its /64.
    click_rate_limit_per_address_per_min: int = Field(
        300,
        ge=1,
        description="Clicks+pageviews+leads of one tenant from one address per minute (per worker). Sized "
        "for carrier-grade NAT, where one IPv4 carries many buyers: 300 is ~100 visitors of the same "
        "landing page in the same minute behind one address.",
    )
    click_rate_limit_per_session_per_min: int = Field(
        60, ge=1, description="Events of one snippet session per minute (per worker)."
    )
    lead_rate_limit_per_min: int = Field(
        600, ge=1, description="Leads per tenant per minute: a budget of their own, not shared with clicks."
    )
    lead_rate_limit_per_address_per_min: int = Field(
        30, ge=1, description="Leads of one tenant from one address per minute (per worker; CGNAT-sized)."
    )
    webhook_refusals_per_address_per_min: int = Field(
        60,
        ge=1,
        description="Refused webhooks from one address per minute that no known tenant is blamed for "
        "(unknown tenant or gateway, no credential); past it: 429 before any work (per worker).",
    )
    webhook_refusals_per_address_tenant_per_min: int = Field(
        5,
        ge=1,
        description="A known tenant's refused webhooks from one address per minute; past it a failed "
        "verification answers 429 and no longer counts against the tenant's success rate, while valid "
        "deliveries from that address still land (per worker).",
    )
    refusal_limit_exempt_networks: str = Field(
        "", description="CIDRs never limited for refusals (e.g. a gateway's published webhook addresses)."
    )
    refusal_flush_seconds: float = Field(
        10.0, gt=0, description="Refused webhooks land as counts per minute, flushed this often."
    )
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request line + headers; more: 431 and the socket closed."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A request head must arrive within this (else 408, socket closed)."
    )
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="A request body must arrive within this after its head (else 408)."
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Internal /metrics listener address (never the public ingest port)."
    )
    metrics_port: int = Field(
        9464,
        ge=0,
        description="Internal /metrics port; worker k of N binds the first free port from here (0: any).",
    )

    # --- Ingest group commit (issue 21). Owner: ingest_service (core/group_commit.py). docs/benchmarks.md ---
    # Requests in flight land in one transaction and one commit flush; each is answered after that commit.
    group_commit_max_wait_ms: float = Field(
        1.0,
        ge=0,
        le=20,
        description="While a batch commits, the next one waits at most this for more rows (ms).",
    )
    group_commit_max_rows: int = Field(
        64, ge=1, le=1000, description="Most hot-path statements (webhooks, clicks) in one group commit."
    )
    group_commit_max_batches: int = Field(
        2,
        ge=1,
        le=64,
        description="Group commits in flight per worker (one pool connection each). Fewer make bigger "
        "batches, and the database's work per row falls with the batch size; 2 lets one batch fill while "
        "another commits.",
    )
    rate_limit_lease_max: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Most tokens of a tenant's per-minute budget one worker leases from Postgres at once "
        "(a sixteenth of the limit first, then doubling, up to this). A request may be refused while other "
        "workers hold this many unspent.",
    )

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
    verify: VerifySettings = Field(default_factory=VerifySettings)  # purchase verification (finding 3)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)  # seller console (issue 15)
    meta_quality: MetaQualitySettings = Field(
        default_factory=MetaQualitySettings
    )  # Meta's EMQ pull (issue 15)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)  # backups, archive (issue 19)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)  # LGPD, clean signals (issue 23)
    setup: SetupSettings = Field(default_factory=SetupSettings)  # setup assistant (issue 16)
    provision: ProvisionSettings = Field(default_factory=ProvisionSettings)  # provisioning (issue 17)

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


# --- Explicit environment for services (issue 22, finding 7). Owner: ingest_service. ---
def require_explicit_env(settings: Settings | None = None) -> Settings:
    """Long-running services (``trackai serve``, the ingest app, Dagster) call this before they start.

    An unset ``TRACKAI_ENV`` means development (on-disk key, relaxed checks). That default is only safe on
    the embedded database: once any other database URL is configured, ``TRACKAI_ENV`` must be set
    explicitly (environment or ``.env``), so a production deploy that forgot it refuses to start instead
    of running with development defaults. One-shot CLI commands keep the implicit default.
    """
    settings = settings or get_settings()
    urls = (settings.database_url, settings.ingest_database_url, settings.dagster_database_url)
    configured = [url for url in urls if url and not _is_embedded_url(url, settings.data_dir)]
    if configured and "env" not in settings.model_fields_set:
        raise SettingsError(
            "TRACKAI_ENV is not set while a database URL is configured: set TRACKAI_ENV=production "
            "(or TRACKAI_ENV=development for a local database) before starting a service"
        )
    return settings


def _is_embedded_url(url: str, data_dir: Path) -> bool:
    """The embedded server's URL (its Unix socket lives in ``data_dir``), which the demo, ``trackai dev``
    and the benchmarks hand to their children as TRACKAI_DATABASE_URL: still development by nature."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [""])[0] or unquote(parts.hostname or "")
    return host.startswith("/") and Path(host).resolve().is_relative_to(Path(data_dir).resolve())


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
