"""Alert payloads (Slack-compatible or PagerDuty Events v2) and the one poster every app uses.

An alert is a dict: severity (ERROR | WARN | RUN_FAILURE | INFO), title, summary, dedup_key, and optionally
runbook, component, group, details. Dagster's alarm sensor, setup support cases, billing thresholds and
privacy deadlines all post through `send_alert`, so one webhook setting reaches the people on call.
"""

from __future__ import annotations

from typing import Any

import httpx

PD_SEVERITY = {"ERROR": "critical", "WARN": "warning", "RUN_FAILURE": "error", "INFO": "info"}


def slack_payload(alert: dict[str, Any]) -> dict[str, Any]:
    icon = ":red_circle:" if alert["severity"] in ("ERROR", "RUN_FAILURE") else ":warning:"
    text = f"{icon} [{alert['severity']}] {alert['title']}\n{alert['summary']}"
    if alert.get("runbook"):
        text += f"\nRunbook: <{alert['runbook']}|{alert['runbook']}>"
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "trackai": alert,
    }


def pagerduty_payload(alert: dict[str, Any], routing_key: str, source: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert["dedup_key"],
        "payload": {
            "summary": f"[{alert['severity']}] {alert['title']}: {alert['summary']}"[:1024],
            "source": source,
            "severity": PD_SEVERITY.get(alert["severity"], "error"),
            "component": alert.get("component", "trackai"),
            "group": alert.get("group", "data-quality"),
            "custom_details": alert.get("details", {}),
        },
    }
    if alert.get("runbook"):
        body["links"] = [{"href": alert["runbook"], "text": "Runbook"}]
    return body


def alert_body(
    alert: dict[str, Any], fmt: str, routing_key: str = "", source: str = "trackai"
) -> dict[str, Any]:
    return pagerduty_payload(alert, routing_key, source) if fmt == "pagerduty" else slack_payload(alert)


def send_alert(
    alert: dict[str, Any],
    *,
    webhook_url: str = "",
    fmt: str = "",
    routing_key: str = "",
    source: str = "trackai",
    timeout_s: float = 5.0,
) -> int | None:
    """POST the alert to the configured webhook (arguments override Settings); None when none is set."""
    from trackai.settings import get_settings

    settings = get_settings()
    url = webhook_url or settings.alert.webhook_url
    if not url:
        return None
    body = alert_body(
        alert, fmt or settings.alert.format, routing_key or settings.pagerduty_routing_key, source
    )
    resp = httpx.post(url, json=body, timeout=timeout_s)
    resp.raise_for_status()
    return resp.status_code
