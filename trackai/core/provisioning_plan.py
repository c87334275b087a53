"""Provisioning rules without I/O (docs/provisioning.md): the saga's steps and their order, names of what
is created (deterministic, so a re-run finds instead of creating), the GTM template's rendering, the
workspace diff's fingerprint and the publish gate.

The I/O (Cloudflare, Stape, GTM, Postgres) is in ``trackai.provisioning``; everything here is decided
from values.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STEPS: tuple[str, ...] = (
    "cloudflare_dns",
    "stape_container",
    "gtm_container",
    "gtm_workspace",
    "gtm_publish",
)
# Steps that create something outside, in creation order; compensation runs them in reverse.
COMPENSATED: tuple[str, ...] = ("cloudflare_dns", "stape_container", "gtm_container")
OPEN_RUN_STATES = ("requested", "running", "waiting", "rolling_back")
WORKSPACE_NAME = "Track AI provisioning"
SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
TEMPLATE_FIELD = re.compile(r"\{\{trackai\.([a-z_]+)\}\}")


def slugify(name: str, tenant_id: str) -> str:
    """A DNS label from the seller's name, ASCII, at most 40 chars, ending with 6 chars of the tenant id so
    two sellers called alike never collide."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:33].strip("-") or "seller"
    return f"{base}-{str(tenant_id).replace('-', '').lower()[:6]}"


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise ValueError(
            f"slug {slug!r} is not a DNS label: lowercase letters, digits and '-', 1-40 chars, not starting "
            "or ending with '-'"
        )
    return slug


def hostname(slug: str, base_domain: str) -> str:
    """The tenant's first-party tracking host: ``{slug}.track.<base domain>``."""
    base = base_domain.strip().strip(".").lower()
    if not base or "." not in base:
        raise ValueError(
            "CF_BASE_DOMAIN must be a domain such as example.com (TRACKAI_PROVISION_CF_BASE_DOMAIN)"
        )
    return f"{check_slug(slug)}.track.{base}"


def resource_name(slug: str) -> str:
    """The one name of the tenant's Stape container and GTM container (looked up before any create)."""
    return f"trackai-{check_slug(slug)}"


def tagging_server_url(host: str) -> str:
    return f"https://{host}"


def zone_candidates(base_domain: str) -> list[str]:
    """Zone names to look up for records under ``base_domain``: itself, then each parent with a dot."""
    labels = base_domain.strip(".").lower().split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def compensation_order(done_steps: list[str]) -> list[str]:
    """The steps to undo, in reverse creation order."""
    return [step for step in reversed(COMPENSATED) if step in done_steps]


# --- the GTM template ----------------------------------------------------------------------------------


def render_template(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Replace every ``{{trackai.<field>}}`` in the template's strings with ``values[field]``; an unknown field
    is an error (a template typo must not publish a literal placeholder). GTM's own ``{{Variable}}``
    references are left alone."""

    def fill(node: Any) -> Any:
        if isinstance(node, str):

            def one(match: re.Match[str]) -> str:
                key = match.group(1)
                if key not in values:
                    raise KeyError(f"the GTM template uses {{{{trackai.{key}}}}} which has no value")
                return values[key]

            return TEMPLATE_FIELD.sub(one, node)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        return node

    return fill(template)


def entity_fingerprint(entity: dict[str, Any]) -> str:
    """What makes two GTM entities the same for our purpose: type, parameters, filters (ids and GTM's own
    bookkeeping fields are ignored)."""
    keep = {
        k: v for k, v in entity.items() if k in ("name", "type", "parameter", "customEventFilter", "filter")
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def workspace_diff(changes: list[dict[str, Any]]) -> list[dict[str, str]]:
    """GTM's workspace status (``workspaceChange``) as rows a person reviews: kind, name, change, fingerprint."""
    rows = []
    for change in changes:
        kind = next(
            (k for k in ("tag", "trigger", "variable", "folder", "builtInVariable") if k in change), "other"
        )
        entity = change.get(kind, {}) if kind != "other" else {}
        rows.append(
            {
                "kind": kind,
                "name": str(entity.get("name", "")),
                "change": str(change.get("changeStatus", "")),
                "entity_fingerprint": entity_fingerprint(entity) if entity else "",
            }
        )
    return sorted(rows, key=lambda r: (r["kind"], r["name"], r["change"]))


def diff_fingerprint(diff: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(diff, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- the publish gate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishDecision:
    allowed: bool
    reason: str  # ok | test_event_missing | approval_missing | diff_changed | nothing_to_publish
    message: str


def publish_decision(
    gate_passed_at: datetime | None,
    approved_fingerprint: str | None,
    current_fingerprint: str,
    changes: int,
) -> PublishDecision:
    """GTM is published only when (a) the test CAPI event passed for this tenant (setup gate C1) and (b) a
    person approved exactly the workspace diff that would be published."""
    if gate_passed_at is None:
        return PublishDecision(
            False,
            "test_event_missing",
            "publish refused: the test CAPI event has not passed for this tenant yet "
            "(run `trackai setup send_test_capi_event` or the setup wizard, then run provisioning again)",
        )
    if approved_fingerprint is None:
        return PublishDecision(
            False,
            "approval_missing",
            "publish refused: nobody approved the GTM workspace diff yet (console: Provisioning → Review)",
        )
    if approved_fingerprint != current_fingerprint:
        return PublishDecision(
            False,
            "diff_changed",
            "publish refused: the GTM workspace changed after it was approved; review and approve it again",
        )
    if changes == 0:
        return PublishDecision(True, "nothing_to_publish", "the workspace has no changes to publish")
    return PublishDecision(True, "ok", "test event passed and the diff was approved")
