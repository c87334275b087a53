"""The alert poster as a Dagster resource; payload shapes and the POST live in trackai.alerts."""

from __future__ import annotations

from typing import Any

import dagster as dg

from trackai.alerts import alert_body, send_alert


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
        key = self.pagerduty_routing_key or settings.pagerduty_routing_key
        return alert_body(alert, self.format or settings.alert.format, key, self.source)

    def send(self, alert: dict[str, Any]) -> int | None:
        return send_alert(
            alert,
            webhook_url=self.webhook_url,
            fmt=self.format,
            routing_key=self.pagerduty_routing_key,
            source=self.source,
            timeout_s=self.timeout_s,
        )
