"""Alert payloads (Slack-compatible or PagerDuty Events v2) and the poster."""

from __future__ import annotations

from typing import Any

import dagster as dg

PD_SEVERITY = {"ERROR": "critical", "WARN": "warning", "RUN_FAILURE": "error"}


class AlertNotifier(dg.ConfigurableResource):
    """Where alerts go. Empty fields fall back to Settings when an alert is sent: TRACKAI_ALERT_WEBHOOK_URL
    (empty there too: alerts are only logged), TRACKAI_ALERT_FORMAT (slack | pagerduty),
    TRACKAI_PAGERDUTY_ROUTING_KEY."""

    webhook_url: str = ""
    format: str = ""
    pagerduty_routing_key: str = ""
    source: str = "trackai-dagster"
    timeout_s: float = 5.0

    def _settings(self):
        from trackai.settings import get_settings

        return get_settings()

    def target_url(self) -> str:
        return self.webhook_url or self._settings().alert.webhook_url

    def payload(self, alert: dict[str, Any]) -> dict[str, Any]:
        settings = self._settings()
        if (self.format or settings.alert.format) == "pagerduty":
            key = self.pagerduty_routing_key or settings.pagerduty_routing_key
            return pagerduty_payload(alert, key, self.source)
        return slack_payload(alert)

    def send(self, alert: dict[str, Any]) -> int | None:
        url = self.target_url()
        if not url:
            return None
        import httpx

        resp = httpx.post(url, json=self.payload(alert), timeout=self.timeout_s)
        resp.raise_for_status()
        return resp.status_code


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
