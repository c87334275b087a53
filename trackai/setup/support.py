"""A person called in (issue 16): the failure streak of each step of each tenant, and the support case its
``failure_threshold``-th consecutive failure opens — exactly one per streak (a partial unique index), posted
through ``trackai.alerts.send_alert`` (C6) — closed when the step passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from trackai import alerts
from trackai.core.setup_result import ToolResult
from trackai.core.setup_streak import after_call
from trackai.settings import Settings
from trackai.setup import transcript


@dataclass(frozen=True)
class CaseChange:
    failures: int
    opened_case_id: int | None = None
    closed_case_id: int | None = None
    notified: bool | None = None


def open_case(conn: psycopg.Connection, tenant_id: str, tool: str | None = None) -> dict[str, Any] | None:
    sql = "SELECT case_id, tool, opened_at, summary FROM setup.support_cases WHERE tenant_id = %s AND closed_at IS NULL"
    params: list[Any] = [tenant_id]
    if tool:
        sql += " AND tool = %s"
        params.append(tool)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql + " ORDER BY opened_at DESC LIMIT 1", params).fetchone()


def after_result(
    conn: psycopg.Connection, settings: Settings, tenant_id: str, result: ToolResult
) -> CaseChange:
    """Advance the step's streak with this result; open or close the support case the rule says."""
    failed = not result.ok
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO setup.step_streaks (tenant_id, tool) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, result.tool),
        )
        (previous,) = cur.execute(
            "SELECT consecutive_failures FROM setup.step_streaks WHERE tenant_id = %s AND tool = %s FOR UPDATE",
            (tenant_id, result.tool),
        ).fetchone()
        current = cur.execute(
            "SELECT case_id FROM setup.support_cases WHERE tenant_id = %s AND tool = %s AND closed_at IS NULL",
            (tenant_id, result.tool),
        ).fetchone()
        step = after_call(
            previous, failed, threshold=settings.setup.failure_threshold, case_open=current is not None
        )
        cur.execute(
            """UPDATE setup.step_streaks SET consecutive_failures = %s, last_code = %s, updated_at = now()
                WHERE tenant_id = %s AND tool = %s""",
            (step.failures, result.code, tenant_id, result.tool),
        )
        closed = None
        if step.close_case and current is not None:
            cur.execute(
                """UPDATE setup.support_cases SET closed_at = now(), closed_reason = 'step passed: ' || %s
                    WHERE case_id = %s""",
                (result.code, current[0]),
            )
            closed = current[0]
        opened = None
        if step.open_case:
            summary = case_summary(conn, settings, tenant_id, result)
            row = cur.execute(
                """INSERT INTO setup.support_cases (tenant_id, tool, summary, transcript_url)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (tenant_id, tool) WHERE closed_at IS NULL DO NOTHING RETURNING case_id""",
                (tenant_id, result.tool, Jsonb(summary), summary["transcript_url"]),
            ).fetchone()
            opened = row[0] if row else None
    if opened is None:
        return CaseChange(step.failures, None, closed)
    return CaseChange(step.failures, opened, closed, _notify(conn, settings, opened))


def transcript_url(settings: Settings, tenant_id: str, tool: str) -> str:
    return f"{settings.console.public_url.rstrip('/')}/setup/transcript?tenant={tenant_id}&tool={tool}"


def case_summary(
    conn: psycopg.Connection, settings: Settings, tenant_id: str, result: ToolResult
) -> dict[str, Any]:
    """What was tried, the last errors and the suggested fix, with a link to the transcript."""
    recent = transcript.entries(conn, tenant_id, tool=result.tool, limit=settings.setup.failure_threshold)
    name = conn.execute("SELECT name FROM core.tenants WHERE tenant_id = %s", (tenant_id,)).fetchone()
    return {
        "tenant_id": tenant_id,
        "tenant_name": (name[0] if not isinstance(name, dict) else name["name"]) if name else None,
        "step": result.tool,
        "tried": [
            {
                "at": e["created_at"].isoformat(),
                "actor": e["actor"],
                "inputs": e["inputs"],
                "code": e["code"],
            }
            for e in recent
        ],
        "last_errors": [e["outputs"].get("message", {}).get("en") for e in recent],
        "suggested_fix": {"pt-BR": result.next_action.pt, "en": result.next_action.en},
        "transcript_url": transcript_url(settings, tenant_id, result.tool),
        "transcript_cli": f"trackai setup transcript --tenant {tenant_id} --tool {result.tool}",
    }


def _notify(conn: psycopg.Connection, settings: Settings, case_id: int) -> bool:
    with conn.cursor(row_factory=dict_row) as cur:
        case = cur.execute(
            "SELECT case_id, tenant_id::text AS tenant_id, tool, summary FROM setup.support_cases WHERE case_id = %s",
            (case_id,),
        ).fetchone()
    summary = case["summary"]
    errors = "; ".join(e for e in summary["last_errors"] if e)
    alert = {
        "severity": "WARN",
        "title": f"Setup support case #{case_id}: {summary.get('tenant_name') or case['tenant_id']} stuck at {case['tool']}",
        "summary": (
            f"{len(summary['tried'])} consecutive failures of {case['tool']}. Last errors: {errors}. "
            f"Suggested fix: {summary['suggested_fix']['en']} Transcript: {summary['transcript_url']}"
        )[:3000],
        "dedup_key": f"trackai-setup-case-{case_id}",
        "component": "setup-assistant",
        "group": "setup",
        "details": summary,
    }
    try:
        status = alerts.send_alert(alert)
        error = None if status is not None else "no alert webhook configured (TRACKAI_ALERT_WEBHOOK_URL)"
    except Exception as exc:  # the case stays recorded; an operator sees it in the console
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    conn.execute(
        "UPDATE setup.support_cases SET notified = %s, notify_error = %s WHERE case_id = %s",
        (status is not None, error, case_id),
    )
    return status is not None
