"""The Gateway interface and the logic every adapter shares (pure: no I/O, no clock unless passed).

An adapter answers four questions about one delivery, always from the **raw body bytes**:
``authenticate`` (is it really from the gateway, for this tenant's secret?), ``delivery_key`` (the
gateway's idempotency key), ``to_conversion`` (the normalised order event, or None when the event is
not about an order) and ``redact`` (the copy of the payload that may be stored: PII hashed/removed).

Personal data is hashed here, at ingest: email/phone (``trackai.core.pii``) and the buyer's names,
address and birth date (``trackai.core.customer``, ``Conversion.customer``); the stored copy of the
payload keeps none of them in plaintext. fbc/fbp are checked once, here, with the one grammar
(``trackai.core.fbc.normalize_fbc``): repaired or dropped, and the reason kept with the stored payload
(``payload_redacted["_trackai"]["normalised"]``).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from trackai.core import customer as customer_fields
from trackai.core.fbc import fbclid_from_fbc, normalize_fbc, normalize_fbp
from trackai.core.pii import hash_email, hash_phone, phones_parsed_once
from trackai.core.session_id import is_session_id

CANONICAL_STATUSES = ("approved", "pending", "refunded", "chargeback", "canceled", "other")
# Kiwify and Perfect Pay send naive local timestamps; we read them as Brazilian local time
# (docs/gateways.md explains the choice).
GATEWAY_LOCAL_TZ = ZoneInfo("America/Sao_Paulo")

TRACKING_KEYS = (
    "src",
    "sck",
    "xcod",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "utm_perfect",
    "s1",
    "s2",
    "s3",
    "fbclid",
    "fbc",
    "fbp",
    "client_reference_id",
    "session_id",
)


class AuthError(Exception):
    """The delivery is not authentic. ``reason`` is a metric label; ``public`` goes in the 401 body."""

    def __init__(self, reason: str, public: str = "invalid signature or unknown tenant") -> None:
        super().__init__(reason)
        self.reason = reason
        self.public = public


class MappingError(ValueError):
    """A verified body that cannot be parsed or mapped: it goes to quarantine, not to the bin."""


@dataclass(frozen=True)
class Conversion:
    gateway: str
    order_id: str
    status: str
    gateway_status: str | None
    event_time: datetime
    amount: Decimal | None = None
    currency: str | None = None
    product_id: str | None = None
    session_id: str | None = None
    tracking: dict[str, str] = field(default_factory=dict)
    fbclid: str | None = None
    fbc: str | None = None
    fbp: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    email_hash: str | None = None
    phone_hash: str | None = None
    # Meta key (fn, ln, ct, st, zp, country, db, ge) -> SHA-256 hex of its normalised value.
    customer: dict[str, str] = field(default_factory=dict)
    # Why an fbc/fbp the gateway sent was changed or dropped (kept with the stored payload).
    notes: tuple[str, ...] = ()
    # A gateway test/sandbox delivery (issue 23): landed, never sent to Meta, never billed.
    is_test: bool = False

    @property
    def is_capi_candidate(self) -> bool:
        """Only approved purchases become CAPI Purchase candidates."""
        return self.status == "approved"


@dataclass(frozen=True)
class Mapped:
    """Everything the service needs from one verified delivery."""

    delivery_key: str
    event_type: str | None
    conversion: Conversion | None
    payload_redacted: dict[str, Any]


class Gateway:
    name: ClassVar[str]

    # --- authentication -------------------------------------------------------------------
    def authenticate(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        secret: str,
        *,
        now: float,
        tolerance: int = 300,
    ) -> None:
        """Raise AuthError unless the raw body is authentic for ``secret``. Headers have lowercase keys."""
        raise NotImplementedError

    # --- mapping ----------------------------------------------------------------------------
    def parse(self, body: bytes) -> dict[str, Any]:
        return parse_json_object(body)

    def delivery_key(self, payload: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def event_type(self, payload: Mapping[str, Any]) -> str | None:
        return None

    def to_conversion(self, payload: Mapping[str, Any]) -> Conversion | None:
        raise NotImplementedError

    def redact(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return redact(payload)

    def map(self, body: bytes) -> Mapped:
        """Parse and normalise a verified body; MappingError for anything unusable. Each phone is parsed
        once for the conversion and the redacted payload together (pii.phones_parsed_once)."""
        payload = self.parse(body)
        with phones_parsed_once():
            try:
                key = self.delivery_key(payload)
                conversion = self.to_conversion(payload)
                event_type = self.event_type(payload)
            except MappingError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation, OverflowError) as exc:
                raise MappingError(f"{type(exc).__name__}: {exc}") from exc
            if not key or len(key) > 400:
                raise MappingError("empty or oversized delivery key")
            redacted = self.redact(payload)
        if conversion is not None and conversion.notes:
            redacted["_trackai"] = {"normalised": list(conversion.notes)}
        return Mapped(key, _clip(event_type, 200), conversion, redacted)


# --- shared helpers ------------------------------------------------------------------------


def constant_time_equal(a: str | bytes | None, b: str | bytes | None) -> bool:
    if a is None or b is None:
        return False
    # surrogatepass: a header or JSON token may decode to a lone surrogate ("\ud800"); it must compare
    # unequal, not raise.
    a_bytes = a.encode("utf-8", "surrogatepass") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8", "surrogatepass") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


# No gateway sends a number longer than this (ids, cents, epoch ms, prices); a 5,000-digit integer would
# otherwise raise past the mapping (int digit limit) or reach jsonb as inf/NaN.
MAX_NUMBER_CHARS = 40


def _bounded_int(raw: str) -> int:
    if len(raw) > MAX_NUMBER_CHARS:
        raise MappingError(f"number with {len(raw)} characters (more than {MAX_NUMBER_CHARS})")
    return int(raw)


def _bounded_decimal(raw: str) -> Decimal:
    value = Decimal(raw) if len(raw) <= MAX_NUMBER_CHARS else None
    if value is None or abs(value.adjusted()) > MAX_NUMBER_CHARS:
        raise MappingError(f"number {raw[:20]!r} is out of range")
    return value


def _no_constants(raw: str) -> Any:
    raise MappingError(f"{raw} is not a JSON number")


# One decoder per mode, built once (json.loads with hooks builds a new one per call).
_BOUNDED_NUMBERS = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_bounded_decimal, parse_constant=_no_constants
)
_TEXT_NUMBERS = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)


def parse_json_object(body: bytes, *, numbers_as_text: bool = False) -> dict[str, Any]:
    """A JSON object with bounded numbers (Decimal, never float); MappingError for anything else.

    ``numbers_as_text`` leaves every number as its text (no conversion, no bound): for reading a credential
    out of a body before the body itself is judged, so a verified delivery with an absurd number is
    quarantined by the mapping instead of refused as unauthenticated."""
    decoder = _TEXT_NUMBERS if numbers_as_text else _BOUNDED_NUMBERS
    try:
        decoded = body.decode("utf-8")
        if decoded.startswith("\ufeff"):  # json.loads' own first check, same error
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", decoded, 0)
        value = decoder.decode(decoded)  # what json.loads(text, parse_...=...) does, without a new decoder
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MappingError(f"body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MappingError("body is not a JSON object")
    return value


def dig(payload: Any, *path: str, default: Any = None) -> Any:
    current = payload
    for key in path:
        if not isinstance(current, Mapping):
            return default
        current = current.get(key)
        if current is None:
            return default
    return current


def text(value: Any, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    result = str(value).strip()
    return result[:limit] if result else None


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value


def decimal_amount(value: Any) -> Decimal | None:
    """A major-units amount sent as a number or numeric string (never via float)."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        amount = (
            Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(str(value))
        )
    except InvalidOperation as exc:
        raise MappingError(f"amount {value!r} is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise MappingError(f"amount {value!r} is not a non-negative number")
    return amount


def minor_to_major(value: Any, exponent: int) -> Decimal | None:
    amount = decimal_amount(value)
    if amount is None:
        return None
    return amount.scaleb(-exponent) if exponent else amount


_CURRENCY = re.compile(r"[A-Z]{3}")


def currency_code(value: Any) -> str | None:
    code = text(value, 10)
    if not code:
        return None
    code = code.upper()
    if not _CURRENCY.fullmatch(code):
        raise MappingError(f"currency {value!r} is not an ISO code")
    return code


def epoch_seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def epoch_millis(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def local_naive_time(value: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM[:SS]`` without a zone (Kiwify, Perfect Pay) read as America/Sao_Paulo."""
    raw = text(value, 40)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MappingError(f"timestamp {raw!r} not understood") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=GATEWAY_LOCAL_TZ)
    return parsed.astimezone(UTC)


def tracking_params(*sources: Any) -> dict[str, str]:
    """The tracking keys present (non-empty) in the given mappings; first source wins."""
    found: dict[str, str] = {}
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for key, value in source.items():
            norm = str(key).lower().lstrip("_")
            if norm in TRACKING_KEYS and norm not in found:
                value_text = text(value, 500)
                if value_text:
                    found[norm] = value_text
    return found


def session_from_tracking(tracking: Mapping[str, str], carriers: tuple[str, ...]) -> str | None:
    """The snippet's session id (``trackai.core.session_id``) the checkout carried: the gateway's usual
    carriers first, then any other tracking value. Nothing else is a session id: a utm value or a gateway
    default (``HOTMART_PRODUCT_PAGE``) would join every checkout that carries it to a click anyone can post
    (issue 22, finding 1)."""
    for key in carriers:
        if is_session_id(tracking.get(key)):
            return tracking[key]
    return next((value for value in tracking.values() if is_session_id(value)), None)


# --- redaction (one implementation for every gateway) ---------------------------------------

_DROP_KEYS = {
    "token",
    "hottok",
    "name",
    "full_name",
    "first_name",
    "last_name",
    "document",
    "document_type",
    "cpf",
    "cnpj",
    "identification_number",
    "birthday",
    "birthdate",
    "birth_date",
    "date_of_birth",
    "gender",
    "instagram",
    "address",
    "street",
    "street_name",
    "street_number",
    "number",
    "complement",
    "neighborhood",
    "district",
    "zipcode",
    "zip_code",
    "postal_code",
    "city",
    "state",
    "line1",
    "line2",
    "tax_ids",
    "card_last4digits",
}
_EMAIL_IN_TEXT = re.compile(r"[^@\s\"']+@[^@\s\"']+\.[^@\s\"']+")


_PHONE_KEYS = frozenset({"mobile", "cellphone", "telefone", "celular"})
_NON_DIGITS = re.compile(r"\D")
# What a payload key is for redaction, by its lowercase form: dropped, an email, a phone, or anything else.
_DROP, _EMAIL_KEY, _PHONE_KEY, _OTHER = 0, 1, 2, 3
_KEY_KINDS: dict[str, tuple[str, int]] = {}
_KEY_KINDS_MAX = 4096  # payload keys repeat across deliveries; the memo stays bounded whatever is sent


def _key_kind(k: Any) -> tuple[str, int]:
    known = _KEY_KINDS.get(k) if type(k) is str else None
    if known is not None:
        return known
    lk = str(k).lower()
    if lk in _DROP_KEYS:
        kind = _DROP
    elif "email" in lk:
        kind = _EMAIL_KEY
    elif "phone" in lk or lk in _PHONE_KEYS:
        kind = _PHONE_KEY
    else:
        kind = _OTHER
    if type(k) is str and len(k) <= 64 and len(_KEY_KINDS) < _KEY_KINDS_MAX:
        _KEY_KINDS[k] = (lk, kind)
    return lk, kind


def redact(value: Any, key: str | None = None) -> Any:
    """Copy of a payload with emails/phones replaced by SHA-256 hex and names/documents removed."""
    kind = type(value)
    if kind is str:
        if "@" in value and _EMAIL_IN_TEXT.search(value):
            return _EMAIL_IN_TEXT.sub(lambda m: hash_email(m.group(0)) or "[redacted]", value)
        return value
    if kind is int or kind is bool or value is None:
        return value
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out: dict[str, Any] = {}
        for k, v in value.items():
            known = _KEY_KINDS.get(k) if type(k) is str else None  # _key_kind's memo, without the call
            lk, key_kind = known if known is not None else _key_kind(k)
            if key_kind == _DROP:
                continue
            if key_kind == _EMAIL_KEY and isinstance(v, (str, int)):
                hashed = hash_email(str(v))
                if hashed:
                    out[k] = hashed
                continue
            if key_kind == _PHONE_KEY and isinstance(v, (str, int)):
                hashed = hash_phone(v) if len(_NON_DIGITS.sub("", str(v))) >= 10 else None
                if hashed:
                    out[k] = hashed
                continue
            leaf = type(v)
            if leaf is int or leaf is bool or v is None or (leaf is str and "@" not in v):
                out[k] = v  # what redact(v) answers for these, without the call
            else:
                out[k] = redact(v, lk)
        return out
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str) and "@" in value and _EMAIL_IN_TEXT.search(value):
        return _EMAIL_IN_TEXT.sub(lambda m: hash_email(m.group(0)) or "[redacted]", value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value


class _BuyerHashes(dict):
    """``customer.hashed_fields``' answer as it left ``buyer_fields``: every value the SHA-256 of a non-empty
    normalised value, ``ge``/``country`` inside their closed sets, keys in ``customer.KEYS`` order, so
    ``clean_hashes`` would return it unchanged (tests/customer_data/test_mapping_fast_path.py)."""


def buyer_fields(**raw: Any) -> dict[str, str]:
    """The buyer's hashed Meta keys from a gateway's raw fields (``trackai.core.customer.hashed_fields``)."""
    return _BuyerHashes(customer_fields.hashed_fields(**raw))


def build_conversion(gateway: str, **fields: Any) -> Conversion:
    status = fields.get("status")
    if status not in CANONICAL_STATUSES:
        fields["status"] = "other"
    notes = []
    for key, rule in (("fbc", normalize_fbc), ("fbp", normalize_fbp)):
        fields[key], why = rule(fields.get(key))
        if why:
            notes.append(why)
    fields["notes"] = tuple(notes)
    customer = fields.get("customer")
    # buyer_fields' own answer is already clean (customer.hashed_fields: see _BuyerHashes); anything else
    # is checked key by key.
    fields["customer"] = (
        dict(customer) if type(customer) is _BuyerHashes else customer_fields.clean_hashes(customer)
    )
    fbc = fields.get("fbc")
    if fbc and not fields.get("fbclid"):
        fields["fbclid"] = fbclid_from_fbc(fbc)
    order_id = text(fields.get("order_id"), 200)
    if not order_id:
        raise MappingError("no order id in the payload")
    fields["order_id"] = order_id
    if fields.get("event_time") is None:
        raise MappingError("no event time in the payload")
    return Conversion(gateway=gateway, **fields)
