"""Pre-validation of one server event against Meta's documented contract (meta_capi.md §A2-A4).

Used by the dispatcher before sending (an invalid event goes to the DLQ and never poisons a batch)
and by the local Graph API fake to refuse what Meta refuses. Each problem is an :class:`Issue` with
the code-100 subcode the fake answers with. Only 2804001 (malformed fbc) and 2804003 (event too old)
are attested in public code; the other subcodes are the fake's own choice and are marked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trackai.core import customer
from trackai.core import fbc as fbc_rules

MAX_EVENTS_PER_REQUEST = 1000
MAX_AGE_SECONDS = 7 * 24 * 3600
FUTURE_TOLERANCE_SECONDS = 60  # Meta states no tolerance; RudderStack refuses > 1 minute ahead
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
HASHED_KEYS = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")
# "Baseline requirements for matching": customer info that is only one of these combos (or a
# subset of one) makes the event invalid.
BASELINE_INSUFFICIENT_COMBOS: tuple[frozenset[str], ...] = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")

SUBCODE_FBC = 2804001  # attested (Adsmurai issue #6, PostHog PR #73897)
SUBCODE_TOO_OLD = 2804003  # attested in RudderStack's comments
SUBCODE_FUTURE = 2804004  # fake's choice
SUBCODE_MISSING = 2804007  # fake's choice (listed among "other validation" subcodes)
SUBCODE_HASH = 2804016  # fake's choice
SUBCODE_MATCHING = 2804017  # fake's choice
SUBCODE_TOO_MANY = 2804019  # fake's choice


@dataclass(frozen=True)
class Issue:
    subcode: int
    title: str
    message: str

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


def validate_event(event: dict, now: float) -> list[Issue]:
    """All problems of one event at unix time ``now`` (empty list = valid)."""
    issues: list[Issue] = []
    if not isinstance(event, dict):
        return [Issue(SUBCODE_MISSING, "Invalid Event", "each element of data must be an object")]
    for field in ("event_name", "event_time", "action_source", "user_data"):
        if event.get(field) in (None, "", {}):
            issues.append(Issue(SUBCODE_MISSING, "Missing Required Parameter", f"{field} is required"))
    action_source = event.get("action_source")
    if action_source and action_source not in ACTION_SOURCES:
        issues.append(
            Issue(SUBCODE_MISSING, "Invalid Action Source", f"action_source {action_source!r} is not valid")
        )
    user_data = event.get("user_data") if isinstance(event.get("user_data"), dict) else {}
    if action_source == "website":
        if not event.get("event_source_url"):
            issues.append(
                Issue(
                    SUBCODE_MISSING, "Missing Required Parameter", "event_source_url is required for website"
                )
            )
        if not user_data.get("client_user_agent"):
            issues.append(
                Issue(
                    SUBCODE_MISSING, "Missing Required Parameter", "client_user_agent is required for website"
                )
            )
    issues.extend(_time_issues(event.get("event_time"), now, action_source))
    issues.extend(_user_data_issues(user_data))
    if event.get("event_name") == "Purchase":
        custom = event.get("custom_data") if isinstance(event.get("custom_data"), dict) else {}
        if not isinstance(custom.get("value"), int | float) or isinstance(custom.get("value"), bool):
            issues.append(
                Issue(SUBCODE_MISSING, "Missing Required Parameter", "Purchase needs custom_data.value")
            )
        if not isinstance(custom.get("currency"), str) or not _CURRENCY.match(custom["currency"]):
            issues.append(
                Issue(SUBCODE_MISSING, "Missing Required Parameter", "Purchase needs a 3-letter currency")
            )
    return issues


def _time_issues(event_time: object, now: float, action_source: object) -> list[Issue]:
    if event_time is None:
        return []
    if not isinstance(event_time, int) or isinstance(event_time, bool):
        return [Issue(SUBCODE_MISSING, "Invalid Event Time", "event_time must be unix seconds (integer)")]
    max_age = 62 * 24 * 3600 if action_source == "physical_store" else MAX_AGE_SECONDS
    if event_time < now - max_age:
        return [
            Issue(
                SUBCODE_TOO_OLD,
                "Event Timestamp Too Old",
                "event_time is more than 7 days in the past",
            )
        ]
    if event_time > now + FUTURE_TOLERANCE_SECONDS:
        return [Issue(SUBCODE_FUTURE, "Event Timestamp In The Future", "event_time is in the future")]
    return []


def _values(value: object) -> list | tuple:
    if value is None:
        return ()
    return value if isinstance(value, list | tuple) else (value,)


def _filled(value: object) -> bool:
    """A user_data key counts for matching when it has a value and none of its values is empty."""
    if isinstance(value, list | tuple):
        return bool(value) and all(x != "" and x is not None for x in value)
    return value is not None and value != ""


def _user_data_issues(user_data: dict) -> list[Issue]:
    # Runs for every event the dispatcher sends and the fake receives (bench P3): one pass over the
    # keys present, no per-key list building.
    issues: list[Issue] = []
    for key in HASHED_KEYS:
        value = user_data.get(key)
        if value is None:
            continue
        for item in _values(value):
            if not isinstance(item, str) or len(item) != 64 or not _SHA256.match(item):
                issues.append(
                    Issue(SUBCODE_HASH, "Invalid Hashed Parameter", f"user_data.{key} must be SHA-256 hex")
                )
                break
            if not customer.acceptable_hash(key, item) and key in customer.KEYS:
                # fake's choice: Meta documents the normalised forms, not a refusal for these
                issues.append(
                    Issue(
                        SUBCODE_HASH,
                        "Invalid Hashed Parameter",
                        f"user_data.{key} is the hash of an empty or not normalised value",
                    )
                )
                break
    fbc = user_data.get("fbc")
    if fbc is not None and not fbc_rules.is_valid_fbc(fbc):
        issues.append(Issue(SUBCODE_FBC, "Click ID Incorrectly Formatted", "The fbc value is malformed"))
    fbp = user_data.get("fbp")
    if fbp is not None and not fbc_rules.is_valid_fbp(fbp):
        issues.append(
            Issue(SUBCODE_MISSING, "Browser ID Incorrectly Formatted", "The fbp value is malformed")
        )
    present = frozenset(k for k, v in user_data.items() if _filled(v))
    if not present or any(present <= combo for combo in BASELINE_INSUFFICIENT_COMBOS):
        issues.append(
            Issue(
                SUBCODE_MATCHING,
                "Insufficient Customer Information",
                "user_data does not meet Meta's baseline matching requirements",
            )
        )
    return issues


def validate_request(events: object, now: float) -> tuple[int, Issue] | None:
    """First problem of a whole request as Meta reports it: (event index or -1, issue); None when valid."""
    if not isinstance(events, list) or not events:
        return -1, Issue(SUBCODE_MISSING, "Missing Required Parameter", "data must be a non-empty array")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        return -1, Issue(
            SUBCODE_TOO_MANY,
            "Too Many Events",
            f"at most {MAX_EVENTS_PER_REQUEST} events per request, got {len(events)}",
        )
    for index, event in enumerate(events):
        issues = validate_event(event, now)
        if issues:
            return index, issues[0]
    return None
