"""Meta's own Event Match Quality: pull it from the Dataset Quality API, store it, compare it with ours.

``GET {graph}/{version}/dataset_quality?dataset_id=<pixel>&fields=web{event_match_quality,event_name}
&access_token=<token>[&agent_name=<name>]`` answers ``{"web": [{"event_name": "Purchase",
"event_match_quality": {"composite_score": 6.2, "match_key_feedback": [{"identifier": "email",
"coverage": {"percentage": 100}}]}}]}`` (Meta's "Dataset Quality API" page). Meta computes the score over
the last 48 hours; we store what it says once a day per tenant in ``ops.meta_dataset_quality`` (sql/0601)
and the console shows it beside our estimate (trackai.core.emq), which weighs only which keys we sent.
``drift`` is the one rule of the alarm comparing the two (Dagster check and console banner).
The Graph API fake serves the same shape (trackai_cli/capi_mock/dataset_quality.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from trackai import tenants
from trackai.settings import Settings, get_settings

FIELDS = "web{event_match_quality,event_name}"
# Our user_data keys as Meta's match_key_feedback names them.
IDENTIFIER_OF_KEY = {
    "em": "email",
    "ph": "phone",
    "external_id": "external_id",
    "client_ip_address": "ip_address",
    "client_user_agent": "user_agent",
    "fbc": "fbc",
    "fbp": "fbp",
    "fn": "first_name",
    "ln": "last_name",
    "ct": "city",
    "st": "state",
    "zp": "zip",
    "country": "country",
    "db": "date_of_birth",
    "ge": "gender",
}


class DatasetQualityError(RuntimeError):
    """Meta refused the request (the message is Meta's, with its code)."""


@dataclass(frozen=True)
class EventQuality:
    event_name: str
    composite_score: float | None
    match_key_feedback: list[dict] = field(default_factory=list)  # [{"identifier", "coverage_pct"}]


@dataclass(frozen=True)
class Drift:
    state: str  # "ok" | "drift" | "unknown" (one of the two scores is missing)
    gap: float | None  # ours - Meta's, in points


def drift(ours: float | None, meta: float | None, max_points: float) -> Drift:
    """Our estimate and Meta's score for the same day are apart by more than ``max_points``: drift."""
    if ours is None or meta is None:
        return Drift("unknown", None)
    gap = round(float(ours) - float(meta), 2)
    return Drift("drift" if abs(gap) > max_points else "ok", gap)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN -> None


def parse_response(body: Any) -> list[EventQuality]:
    """The events of a Dataset Quality answer; odd or missing fields become None / are skipped."""
    entries = body.get("web") if isinstance(body, dict) else None
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("event_name"), str):
            continue
        emq = entry.get("event_match_quality") if isinstance(entry.get("event_match_quality"), dict) else {}
        score = _number(emq.get("composite_score"))
        if score is not None and not 0 <= score <= 10:
            score = None
        feedback = []
        for key in emq.get("match_key_feedback") or []:
            if isinstance(key, dict) and isinstance(key.get("identifier"), str):
                coverage = key.get("coverage") if isinstance(key.get("coverage"), dict) else {}
                feedback.append(
                    {"identifier": key["identifier"], "coverage_pct": _number(coverage.get("percentage"))}
                )
        out.append(EventQuality(entry["event_name"], score, feedback))
    return out


def fetch(client: httpx.Client, settings: Settings, pixel_id: str, access_token: str) -> list[EventQuality]:
    """One Dataset Quality request for one pixel (dataset)."""
    params = {"dataset_id": pixel_id, "fields": FIELDS, "access_token": access_token}
    if settings.meta_quality.agent_name:
        params["agent_name"] = settings.meta_quality.agent_name
    url = f"{settings.meta_graph_url.rstrip('/')}/{settings.meta_api_version}/dataset_quality"
    response = client.get(url, params=params)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
        error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
        raise DatasetQualityError(
            f"HTTP {response.status_code}, code {error.get('code')}: {error.get('message') or 'no JSON body'}"
        )
    return parse_response(body)


def store(
    conn: psycopg.Connection, tenant_id: str, pixel_id: str, day: date, events: list[EventQuality]
) -> int:
    """Upsert one day's scores of a tenant (a second pull the same day replaces the first)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO ops.meta_dataset_quality
                      (tenant_id, quality_date, event_name, pixel_id, composite_score, match_key_feedback)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (tenant_id, quality_date, event_name) DO UPDATE
                  SET pixel_id = EXCLUDED.pixel_id, composite_score = EXCLUDED.composite_score,
                      match_key_feedback = EXCLUDED.match_key_feedback, fetched_at = now()""",
            [
                (tenant_id, day, e.event_name, pixel_id, e.composite_score, Jsonb(e.match_key_feedback))
                for e in events
            ],
        )
    return len(events)


def pull_all(
    conn: psycopg.Connection,
    settings: Settings | None = None,
    *,
    day: date | None = None,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, dict]:
    """Pull and store today's scores of every active tenant with a Meta token; per tenant: events or error.

    A tenant whose request fails is reported and skipped; the others are still pulled.
    """
    settings = settings or get_settings()
    day = day or datetime.now(UTC).date()
    summary: dict[str, dict] = {}
    with httpx.Client(timeout=settings.capi.timeout_seconds * 4, transport=transport) as client:
        for tenant in tenants.list_tenants(conn):
            if not tenant.active or "meta_token" not in tenant.configured_secrets:
                continue
            try:
                token = tenants.get_secret(conn, tenant.tenant_id, "meta_token")
                events = fetch(client, settings, tenant.pixel_id, token or "")
                summary[tenant.tenant_id] = {
                    "events": store(conn, tenant.tenant_id, tenant.pixel_id, day, events)
                }
            except (DatasetQualityError, httpx.HTTPError) as exc:
                summary[tenant.tenant_id] = {"error": str(exc)[:300]}
    return summary
