"""Privacy domain (issue 23, docs/privacy.md), group "privacy":

- ``privacy/requests`` (external: written by ``trackai privacy request`` and the console's operator screen)
  with the asset check ``privacy_request_deadlines`` [ERROR]: an unanswered data-subject request within
  ``TRACKAI_PRIVACY_ALARM_DAYS_BEFORE`` days of its 15-day deadline (or past it) fails the check and posts
  an alert through ``trackai.alerts.send_alert`` (each request at most once a day). Hourly schedule.
- ``privacy/quarantine_retention``: deletes encrypted quarantined webhook bodies older than
  ``TRACKAI_PRIVACY_QUARANTINE_RETENTION_DAYS``. Daily schedule.
"""

import dagster as dg

from dagster_project.lib import keys
from dagster_project.lib.resources import PostgresResource

GROUP = "privacy"
REQUESTS = dg.AssetKey(["privacy", "requests"])
QUARANTINE_RETENTION = dg.AssetKey(["privacy", "quarantine_retention"])
QUARANTINE = dg.AssetKey(["landing", "webhook_quarantine"])
ALARM_JOB = "privacy_deadline_alarm_job"
ALARM_SCHEDULE = "privacy_deadline_alarm_hourly"
RETENTION_JOB = "privacy_quarantine_retention_job"
RETENTION_SCHEDULE = "privacy_quarantine_retention_daily"
RUNBOOK = "docs/privacy.md#requests"

requests_spec = dg.AssetSpec(
    key=REQUESTS,
    group_name=GROUP,
    description="The LGPD data-subject request log (privacy.requests, sql/1300): subject digest, state, "
    "15-day deadline, who acted. Written by `trackai privacy request` and the console's privacy screen.",
    kinds={"postgres"},
)
quarantine_spec = dg.AssetSpec(
    key=QUARANTINE,
    group_name=keys.LANDING_GROUP,
    description="Verified but unmappable webhook bodies, Fernet-encrypted (landing.webhook_quarantine), kept "
    "for re-processing until their retention ends.",
    kinds={"postgres"},
)


@dg.asset_check(
    asset=REQUESTS,
    name="privacy_request_deadlines",
    blocking=False,
    description="[ERROR] Unanswered data-subject requests within the alarm window of their 15-day deadline "
    "(LGPD Art. 19), or past it. Runbook: docs/privacy.md#requests",
)
def privacy_request_deadlines(postgres: PostgresResource) -> dg.AssetCheckResult:
    from datetime import UTC, datetime

    from trackai.privacy import requests
    from trackai.settings import get_settings

    settings = get_settings()
    now = datetime.now(UTC)
    with postgres.connect() as conn:
        outcome = requests.notify_due(conn, settings, now)
        due = requests.due_soon(conn, settings.privacy.alarm_days_before, now)
    overdue = sum(1 for r in due if r["deadline_at"] <= now)
    return dg.AssetCheckResult(
        passed=not due,
        severity=dg.AssetCheckSeverity.ERROR,
        description="Data-subject requests near or past their deadline",
        metadata={
            "value": dg.MetadataValue.int(len(due)),
            "overdue": dg.MetadataValue.int(overdue),
            "alerted_now": dg.MetadataValue.int(outcome["alerted"]),
            keys.SELF_NOTIFYING: dg.MetadataValue.bool(True),
            "threshold": dg.MetadataValue.text(
                f"open within {settings.privacy.alarm_days_before} days of deadline"
            ),
            "severity_on_failure": dg.MetadataValue.text("ERROR"),
            "runbook": dg.MetadataValue.text(RUNBOOK),
            "summary": dg.MetadataValue.text(
                f"{len(due)} open request(s) near the deadline, {overdue} overdue"
            ),
            "request_ids": dg.MetadataValue.json([r["request_id"] for r in due][:50]),
        },
    )


@dg.asset(
    key=QUARANTINE_RETENTION,
    group_name=GROUP,
    deps=[QUARANTINE],
    description="Deletes quarantined webhook bodies (encrypted raw bodies: they hold the buyer's plaintext) "
    "older than TRACKAI_PRIVACY_QUARANTINE_RETENTION_DAYS (trackai.privacy.retention).",
    kinds={"python", "postgres"},
)
def quarantine_retention(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    from trackai.privacy import retention

    with postgres.connect() as conn:
        deleted = retention.expire_quarantine(conn)
        oldest = retention.oldest_quarantine_age_days(conn)
    context.log.info("quarantine retention: %s deleted", deleted)
    return dg.MaterializeResult(
        metadata={"deleted": deleted, "oldest_left_days": dg.MetadataValue.float(float(oldest or 0.0))}
    )


def build_defs() -> dg.Definitions:
    from dagster_project.defs.quality import no_run_in_flight

    alarm_job = dg.define_asset_job(
        ALARM_JOB, selection=dg.AssetSelection.checks(privacy_request_deadlines), tags=keys.ALARMS_RUN_TAGS
    )
    retention_job = dg.define_asset_job(
        RETENTION_JOB, selection=dg.AssetSelection.assets(QUARANTINE_RETENTION)
    )
    return dg.Definitions(
        assets=[requests_spec, quarantine_spec, quarantine_retention],
        asset_checks=[privacy_request_deadlines],
        jobs=[alarm_job, retention_job],
        schedules=[
            dg.ScheduleDefinition(
                name=ALARM_SCHEDULE,
                job=alarm_job,
                cron_schedule="17 * * * *",
                should_execute=no_run_in_flight(ALARM_JOB),
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
            dg.ScheduleDefinition(
                name=RETENTION_SCHEDULE,
                job=retention_job,
                cron_schedule="40 4 * * *",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            ),
        ],
    )
