"""Support cases among the alerts the shared loopback receiver (tests/support/receiver.py) recorded."""

from __future__ import annotations


def support_cases(receiver) -> list[dict]:
    """The setup assistant's support cases posted to ``<receiver.url>/hook`` (Slack shape: body["trackai"])."""
    return [
        body["trackai"]
        for body in receiver.json_bodies("/hook")
        if body.get("trackai", {}).get("component") == "setup-assistant"
    ]
