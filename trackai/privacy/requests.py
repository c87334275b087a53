"""The data-subject request log (``privacy.requests`` + ``privacy.request_events``, sql/1300) and the one
entry point the CLI and the console call: ``serve(conn, tenant, email|phone, action, actor)``.

A request is opened with a deadline (received + ``TRACKAI_PRIVACY_REQUEST_DEADLINE_DAYS``, 15 by LGPD
Art. 19); ``export`` answers it (state ``exported``), ``delete`` erases (state ``erased``, final). Every step
is an event with its actor. The log never holds the email/phone nor its SHA-256: only an HMAC digest
(``subjects.subject_digest``) that recognises the same subject in a later request of the same tenant.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from trackai.privacy import subjects
from trackai.settings import Settings, get_settings

log = logging.getLogger("trackai.privacy")
ACTIONS = ("export", "delete")
OPEN_STATES = ("open", "exported")


@dataclass
class Served:
    request_id: int
    action: str
    state: str
    deadline_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    report_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "action": self.action,
            "state": self.state,
            "deadline_at": self.deadline_at.isoformat(),
            "counts": self.counts,
            "timings_s": self.timings_s,
            "report_path": self.report_path,
        }


def open_request(
    conn: psycopg.Connection,
    subject: subjects.Subject,
    actor: str,
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """The open request of this subject (same tenant), or a new one with its deadline."""
    settings = settings or get_settings()
    digest = subjects.subject_digest(subject, settings)
    row = conn.execute(
        """SELECT request_id FROM privacy.requests WHERE tenant_id = %s AND subject_digest = %s
              AND state = ANY(%s) ORDER BY received_at LIMIT 1""",
        (subject.tenant_id, digest, list(OPEN_STATES)),
    ).fetchone()
    if row:
        return row[0]
    now = now or datetime.now(UTC)
    deadline = now + timedelta(days=settings.privacy.request_deadline_days)
    with conn.transaction():
        request_id = conn.execute(
            """INSERT INTO privacy.requests (tenant_id, subject_kind, subject_digest, received_at, deadline_at,
                                             opened_by)
               VALUES (%s, %s, %s, %s, %s, %s) RETURNING request_id""",
            (subject.tenant_id, subject.kind, digest, now, deadline, actor),
        ).fetchone()[0]
        _event(conn, request_id, subject.tenant_id, "opened", actor, {"deadline_at": deadline.isoformat()})
    return request_id


def _event(
    conn: psycopg.Connection, request_id: int, tenant_id: str, action: str, actor: str, detail: dict
) -> None:
    conn.execute(
        "INSERT INTO privacy.request_events (request_id, tenant_id, action, actor, detail) VALUES (%s, %s, %s, %s, %s)",
        (request_id, tenant_id, action, actor, Jsonb(detail)),
    )


def serve(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    action: str,
    actor: str,
    email: str | None = None,
    phone: str | None = None,
    out_dir: str | Path | None = None,
    settings: Settings | None = None,
    write_report_file: bool = True,
) -> Served:
    """Open (or continue) the subject's request and export or delete. ``conn``: autocommit, a role that may
    read and change every table of the footprint (the application's owner URL)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    settings = settings or get_settings()
    subject = subjects.subject_of(tenant_id, email=email, phone=phone)
    if not conn.execute("SELECT 1 FROM core.tenants WHERE tenant_id = %s", (subject.tenant_id,)).fetchone():
        raise subjects.SubjectError("unknown tenant")
    request_id = open_request(conn, subject, actor, settings)
    timings: dict[str, float] = {}
    footprint, timings["locate"] = subjects.timed(subjects.locate, conn, subject, settings)
    served = Served(request_id, action, "open", _deadline(conn, request_id))
    if action == "export":
        report, timings["export"] = subjects.timed(subjects.export, conn, footprint)
        report["request"] = {"request_id": request_id, "deadline_at": served.deadline_at.isoformat()}
        served.report, served.counts = report, report["counts"]
        if write_report_file:  # the console shows the report instead and keeps no copy
            served.report_path = str(write_report(report, request_id, out_dir or settings.privacy.report_dir))
        served.state = _finish(conn, request_id, subject, "exported", actor, served.counts, timings)
    else:
        counts, timings["erase"] = subjects.timed(subjects.erase, conn, footprint, settings)
        served.counts = counts
        served.state = _finish(conn, request_id, subject, "erased", actor, counts, timings)
    served.timings_s = timings
    log.info(
        "privacy request served",
        extra={"tenant_id": subject.tenant_id, "request_id": request_id, "outcome": served.state},
    )
    return served


def _deadline(conn: psycopg.Connection, request_id: int) -> datetime:
    return conn.execute(
        "SELECT deadline_at FROM privacy.requests WHERE request_id = %s", (request_id,)
    ).fetchone()[0]


def _finish(
    conn: psycopg.Connection,
    request_id: int,
    subject: subjects.Subject,
    state: str,
    actor: str,
    counts: dict[str, int],
    timings: dict[str, float],
) -> str:
    column = "exported" if state == "exported" else "erased"
    with conn.transaction():
        conn.execute(
            f"""UPDATE privacy.requests SET state = CASE WHEN state = 'erased' THEN state ELSE %s END,
                       {column}_at = now(), {column}_by = %s, updated_at = now(),
                       summary = summary || jsonb_build_object(%s::text, %s::jsonb)
                 WHERE request_id = %s""",
            (state, actor, column, json.dumps({"counts": counts, "timings_s": timings}), request_id),
        )
        _event(conn, request_id, subject.tenant_id, column, actor, {"counts": counts, "timings_s": timings})
    return conn.execute("SELECT state FROM privacy.requests WHERE request_id = %s", (request_id,)).fetchone()[
        0
    ]


def write_report(report: dict[str, Any], request_id: int, out_dir: str | Path) -> Path:
    """The readable report (Markdown) and its JSON next to it, readable by the owner only."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    base = directory / f"request-{request_id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    text, data = base.with_suffix(".md"), base.with_suffix(".json")
    for path, body in (
        (text, subjects.render_text(report)),
        (data, json.dumps(report, indent=2, default=str)),
    ):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
    return text


def reject(conn: psycopg.Connection, request_id: int, actor: str, reason: str) -> None:
    with conn.transaction():
        row = conn.execute(
            "UPDATE privacy.requests SET state = 'rejected', updated_at = now() WHERE request_id = %s "
            "AND state = ANY(%s) RETURNING tenant_id::text",
            (request_id, list(OPEN_STATES)),
        ).fetchone()
        if not row:
            raise ValueError("no open request with that id")
        _event(conn, request_id, row[0], "rejected", actor, {"reason": reason[:500]})


def list_requests(conn: psycopg.Connection, tenant_id: str | None = None, limit: int = 200) -> list[dict]:
    query = """SELECT r.request_id, r.tenant_id::text AS tenant_id, t.name AS tenant_name, r.subject_kind, r.state,
                      r.received_at, r.deadline_at, r.opened_by, r.exported_at, r.exported_by, r.erased_at,
                      r.erased_by, r.alerted_at, r.summary
                 FROM privacy.requests r JOIN core.tenants t USING (tenant_id)"""
    params: list[Any] = []
    if tenant_id:
        query += " WHERE r.tenant_id = %s"
        params.append(tenant_id)
    query += " ORDER BY (r.state IN ('open', 'exported')) DESC, r.deadline_at LIMIT %s"
    params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def events_of(conn: psycopg.Connection, request_id: int) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT action, actor, detail, created_at FROM privacy.request_events WHERE request_id = %s ORDER BY event_no",
            (request_id,),
        ).fetchall()


# --- the deadline alarm --------------------------------------------------------------------------------


def due_soon(conn: psycopg.Connection, days_before: float, now: datetime | None = None) -> list[dict]:
    """Unanswered requests (state ``open``: an export answers an access request, an erasure closes it)
    whose deadline is within ``days_before`` days or already past."""
    now = now or datetime.now(UTC)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT request_id, tenant_id::text AS tenant_id, deadline_at, received_at, alerted_at
                 FROM privacy.requests
                WHERE state = 'open' AND deadline_at <= %s ORDER BY deadline_at""",
            (now + timedelta(days=days_before),),
        ).fetchall()


def alert_for(rows: list[dict], now: datetime) -> dict[str, Any]:
    overdue = [r for r in rows if r["deadline_at"] <= now]
    first = min(r["deadline_at"] for r in rows)
    return {
        "severity": "ERROR",
        "title": "LGPD data-subject requests near or past their deadline",
        "summary": f"{len(rows)} open request(s), {len(overdue)} overdue; earliest deadline {first.isoformat()}",
        "dedup_key": "trackai-privacy-request-deadline",
        "runbook": "docs/privacy.md#requests",
        "component": "privacy",
        "group": "privacy",
        "details": {
            "request_ids": [r["request_id"] for r in rows][:50],
            "overdue": len(overdue),
            "earliest_deadline": first.isoformat(),
        },
    }


def notify_due(
    conn: psycopg.Connection, settings: Settings | None = None, now: datetime | None = None
) -> dict:
    """Post one ERROR alert (trackai.alerts.send_alert) for open requests near their deadline that were not
    alerted in the last 24 h, and stamp them. Returns what was found and posted."""
    from trackai import alerts

    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    rows = due_soon(conn, settings.privacy.alarm_days_before, now)
    fresh = [r for r in rows if r["alerted_at"] is None or r["alerted_at"] <= now - timedelta(hours=24)]
    posted = None
    if fresh:
        posted = alerts.send_alert(alert_for(rows, now))
        with conn.transaction():
            for r in fresh:
                conn.execute(
                    "UPDATE privacy.requests SET alerted_at = %s, updated_at = now() WHERE request_id = %s",
                    (now, r["request_id"]),
                )
                _event(
                    conn,
                    r["request_id"],
                    r["tenant_id"],
                    "alerted",
                    "dagster",
                    {"posted": posted is not None},
                )
    return {"due": len(rows), "alerted": len(fresh), "posted_status": posted}
