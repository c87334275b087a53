"""The one definition of a CAPI event_id.

event_id = lowercase hex SHA-256 of the UTF-8 canonical string
``trackai.v1|<tenant_id>|<order_id>|<event_name>`` (tenant_id as lowercase UUID text, order_id
exactly as the gateway sent it, event_name as sent to Meta, e.g. ``Purchase``). Retries,
duplicates and status updates of one order give the same id; the landing page can compute it too
(docs/tracking.md).
"""

from __future__ import annotations

import hashlib

CANONICAL_PREFIX = "trackai.v1"


def canonical_event_string(tenant_id: str, order_id: str, event_name: str = "Purchase") -> str:
    if not order_id:
        raise ValueError("order_id is required for an event_id")
    if "|" in event_name:
        raise ValueError("event_name must not contain '|'")
    return f"{CANONICAL_PREFIX}|{str(tenant_id).lower()}|{order_id}|{event_name}"


def event_id(tenant_id: str, order_id: str, event_name: str = "Purchase") -> str:
    return hashlib.sha256(canonical_event_string(tenant_id, order_id, event_name).encode("utf-8")).hexdigest()
