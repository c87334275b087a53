"""The Dataset Quality API in the Graph API fake: ``GET /{version}/dataset_quality``.

It scores what the fake accepted for the pixel (``dataset_id``) whose event_time is in the last 48 hours,
per event name: ``match_key_feedback`` = the share of events carrying each key (named as Meta names them,
trackai.console_data.meta_quality.IDENTIFIER_OF_KEY) and a ``composite_score`` 0-10 from those shares.
The composite is deliberately not our estimate (trackai.core.emq): it weights coverage by the fake's own
priorities, as Meta's own score differs from ours. Answers 190 for an invalid token, like the rest of the fake.

Control (not Graph): ``POST /_mock/dataset_quality`` with ``{"pixel_id": "...", "composite_score": 3.1}``
pins the score of a pixel (drift tests); ``"composite_score": null`` unpins it.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trackai.console_data.meta_quality import IDENTIFIER_OF_KEY

WINDOW_SECONDS = 48 * 3600
# The fake's own weights of key coverage (sum 1.0); ours are trackai.core.emq.EMQ_WEIGHTS.
COVERAGE_WEIGHTS = {
    "em": 0.35,
    "fbc": 0.25,
    "ph": 0.15,
    "external_id": 0.10,
    "fbp": 0.10,
    "client_ip_address": 0.025,
    "client_user_agent": 0.025,
}


def _carries(user_data: dict, key: str) -> bool:
    value = user_data.get(key)
    if isinstance(value, list):
        return any(v not in (None, "") for v in value)
    return value not in (None, "")


def score_events(events: list[dict]) -> list[dict]:
    """The ``web`` array for these accepted events: one entry per event name."""
    by_name: dict[str, list[dict]] = {}
    for event in events:
        by_name.setdefault(str(event.get("event_name")), []).append(event.get("user_data") or {})
    web = []
    for name, users in sorted(by_name.items()):
        coverage = {key: sum(_carries(u, key) for u in users) / len(users) for key in IDENTIFIER_OF_KEY}
        composite = round(10 * sum(COVERAGE_WEIGHTS.get(k, 0) * share for k, share in coverage.items()), 1)
        feedback = [
            {"identifier": IDENTIFIER_OF_KEY[key], "coverage": {"percentage": round(100 * share, 1)}}
            for key, share in coverage.items()
            if share > 0
        ]
        web.append(
            {
                "event_name": name,
                "event_match_quality": {"composite_score": composite, "match_key_feedback": feedback},
            }
        )
    return web


def routes(state) -> list[Route]:
    """The fake's Dataset Quality routes over its MockState (accepted events, token rules)."""
    pinned: dict[str, float] = {}

    async def dataset_quality(request: Request) -> Response:
        from trackai_cli.capi_mock.app import graph_error

        query = request.query_params
        token = query.get("access_token")
        if not state.token_valid(token):
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        pixel_id = query.get("dataset_id")
        if not pixel_id or not pixel_id.isdigit():
            return graph_error(400, 100, "(#100) The parameter dataset_id is required")
        since = time.time() - WINDOW_SECONDS
        with state.lock:
            events = [
                e
                for e in state.events
                if e.get("_pixel_id") == pixel_id and float(e.get("event_time") or 0) >= since
            ]
        web = score_events(events)
        if pixel_id in pinned:
            for entry in web:
                entry["event_match_quality"]["composite_score"] = pinned[pixel_id]
        return JSONResponse({"web": web})

    async def pin(request: Request) -> Response:
        body = await request.json()
        pixel_id = str(body.get("pixel_id") or "")
        if body.get("composite_score") is None:
            pinned.pop(pixel_id, None)
        else:
            pinned[pixel_id] = float(body["composite_score"])
        return JSONResponse({"pinned": pinned})

    return [
        Route("/{version}/dataset_quality", dataset_quality, methods=["GET"]),
        Route("/_mock/dataset_quality", pin, methods=["POST"]),
    ]
