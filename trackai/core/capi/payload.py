"""Build the Meta ``Purchase`` server event for one purchase (meta_capi.md §A2-A4). Pure.

Inputs are plain mappings (rows of ``core.purchases``, ``core.matches``, ``core.tenants``).

- ``event_time`` = ``approved_at`` (purchase time) in unix seconds; ``event_id`` = the registry id.
- **Matched** purchase (a landing click was matched): ``action_source = "website"`` with
  ``event_source_url`` = the landing URL and ``client_user_agent``/``client_ip_address``/``fbc``/``fbp``
  from the click. ``fbc`` is copied verbatim as stored at click time, never rebuilt (§A4). A browser id
  the gateway reported (authenticated webhook) wins over the click's: a click is posted by anyone who
  knows the tenant id, so its fbc/fbp never override the buyer's own (issue 22, finding 1).
- **A match only lends its click's data when it is sure enough** (issue 14): a match whose ``confidence``
  is below ``min_match_confidence`` (TRACKAI_MATCH_SEND_MIN_CONFIDENCE, passed by dispatch) is treated as
  no match — the purchase goes with its own data only, so an ambiguous probabilistic match never gives
  the buyer another person's fbc/fbp. A probabilistic match without a recorded confidence (matched before
  confidences existed) is not sure enough; rows without ``stage``/``confidence`` are trusted (callers that
  only pass click data).
- **Optional browser ids are never a reason to lose a purchase**: ``drop_invalid_browser_ids`` removes a
  malformed ``fbc``/``fbp`` (grammar: ``trackai.core.fbc``) and says why; dispatch calls it on every
  claimed event, stores the reasons in ``ops.dispatch_queue.dropped_fields`` and sends the rest. A
  planted ``fb.1.<ms>.x$y`` on a click therefore costs the event one key, not its delivery.
- **Unmatched** purchase: there is no browser context (no click user agent, no page URL), and Meta
  requires both for ``website``. We send ``action_source = "other"``: the purchase happened on the
  gateway's hosted checkout and is reported to us server-to-server, which is none of Meta's listed
  sources; ``system_generated`` is Meta's label for automatic conversions (e.g. subscription renewals)
  and would misdescribe a buyer's checkout. IP/UA/fbc/fbp the gateway reported are still sent.
- ``external_id``: one stable hashed id per buyer. Order of preference: the match's ``external_id``
  (hashed with SHA-256 unless already 64-hex), else SHA-256 of the landing ``session_id``, else
  SHA-256 of ``"<tenant_id>|<email_hash>"`` (then phone hash). Always hashed, so the same buyer gets
  the same value across runs and no raw id leaves the platform.
- ``em``/``ph`` are the already normalised + hashed values from the purchase (trackai.core.pii), and so
  are ``fn``, ``ln``, ``ct``, ``st``, ``zp``, ``country``, ``db``, ``ge`` (trackai.core.customer: columns
  ``<key>_hash``, hashed at ingest). Only values ``customer.acceptable_hash`` admits are sent (64-hex, not
  the hash of "", ge/country inside their closed sets); each goes as a one-element list.
- ``custom_data``: value, currency (upper case ISO 4217), order_id, content_ids/contents (product).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from trackai.core import customer, pii
from trackai.core import fbc as fbc_rules

EVENT_NAME = "Purchase"
WEBSITE = "website"
NON_WEB_SOURCE = "other"


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def external_id_for(purchase: Mapping, match: Mapping | None) -> str | None:
    raw = _text(match.get("external_id")) if match else None
    if raw:
        return raw.lower() if pii.is_sha256_hex(raw.lower()) else pii.sha256_hex(raw)
    session = _text(purchase.get("session_id"))
    if session:
        return pii.sha256_hex(session)
    tenant = str(purchase.get("tenant_id", "")).lower()
    for key in ("email_hash", "phone_hash"):
        value = _text(purchase.get(key))
        if value:
            return pii.sha256_hex(f"{tenant}|{value}")
    return None


def event_time_of(purchase: Mapping) -> int:
    approved_at = purchase.get("approved_at")
    if isinstance(approved_at, datetime):
        return int(approved_at.timestamp())
    if isinstance(approved_at, int | float):
        return int(approved_at)
    raise ValueError("purchase has no approved_at (purchase time)")


def _amount(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(round(value, 2))
    return round(float(value), 2)  # type: ignore[arg-type]


def trusted_match(match: Mapping | None, min_confidence: float) -> Mapping | None:
    """``match`` when its confidence allows sending its click's data (module docstring), else None."""
    if not match:
        return None
    confidence = match.get("confidence")
    if confidence is None:
        return None if match.get("stage") == "probabilistic" else match
    return match if float(confidence) >= min_confidence else None


def build_purchase_event(
    purchase: Mapping, match: Mapping | None = None, *, min_match_confidence: float = 0.0
) -> dict:
    """The event object (one element of ``data``) for a purchase row and its optional match."""
    match = trusted_match(match, min_match_confidence)
    user_data: dict[str, object] = {}
    email = _text(purchase.get("email_hash"))
    phone = _text(purchase.get("phone_hash"))
    if email:
        user_data["em"] = [email.lower()]
    if phone:
        user_data["ph"] = [phone.lower()]
    for key, column in customer.COLUMNS.items():
        value = (_text(purchase.get(column)) or "").lower()
        if customer.acceptable_hash(key, value):
            user_data[key] = [value]
    external_id = external_id_for(purchase, match)
    if external_id:
        user_data["external_id"] = [external_id]

    event: dict[str, object] = {
        "event_name": EVENT_NAME,
        "event_time": event_time_of(purchase),
        "event_id": purchase["event_id"],
    }
    if match:
        event["action_source"] = WEBSITE
        landing_url = _text(match.get("landing_url"))
        if landing_url:
            event["event_source_url"] = landing_url
        _put(user_data, "client_ip_address", match.get("client_ip"))
        _put(user_data, "client_user_agent", match.get("user_agent"))
    else:
        event["action_source"] = NON_WEB_SOURCE
        _put(user_data, "client_ip_address", purchase.get("client_ip"))
        _put(user_data, "client_user_agent", purchase.get("user_agent"))
    for key, is_valid in (("fbc", fbc_rules.is_valid_fbc), ("fbp", fbc_rules.is_valid_fbp)):
        # verbatim, never rebuilt or re-cased; the gateway's (when well-formed) before the click's
        own = _text(purchase.get(key))
        clicked = _text(match.get(key)) if match else None
        chosen = own if is_valid(own) or not clicked else clicked
        if chosen:
            user_data[key] = chosen
    event["user_data"] = user_data

    custom: dict[str, object] = {"order_id": str(purchase["order_id"])}
    value = _amount(purchase.get("amount"))
    if value is not None:
        custom["value"] = value
    currency = _text(purchase.get("currency"))
    if currency:
        custom["currency"] = currency.upper()
    product = _text(purchase.get("product_id"))
    if product:
        custom["content_ids"] = [product]
        custom["content_type"] = "product"
        item: dict[str, object] = {"id": product, "quantity": 1}
        if value is not None:
            item["item_price"] = value
        custom["contents"] = [item]
        custom["num_items"] = 1
    event["custom_data"] = custom
    return event


BROWSER_ID_RULES = {"fbc": fbc_rules.is_valid_fbc, "fbp": fbc_rules.is_valid_fbp}


def drop_invalid_browser_ids(event: dict) -> tuple[dict, list[str]]:
    """The event without malformed ``fbc``/``fbp`` (a copy when something goes) and one reason per drop.

    Both are optional match keys: Meta refuses a whole event for a malformed one (subcode 2804001), so a
    bad value is dropped, never a reason to keep the purchase from Meta."""
    user_data = event.get("user_data")
    if not isinstance(user_data, dict):
        return event, []
    bad = [k for k, ok in BROWSER_ID_RULES.items() if k in user_data and not ok(user_data[k])]
    if not bad:
        return event, []
    kept = {k: v for k, v in user_data.items() if k not in bad}
    return {**event, "user_data": kept}, [f"{k}: malformed, not sent" for k in bad]


def _put(target: dict, key: str, value: object) -> None:
    text = _text(value)
    if text:
        target[key] = text


def build_request_body(events: list[dict], test_event_code: str | None = None) -> dict:
    """JSON body of ``POST /{version}/{pixel_id}/events`` (the token goes in the query string)."""
    body: dict[str, object] = {"data": events, "partner_agent": "trackai"}
    if test_event_code:
        body["test_event_code"] = test_event_code
    return body
