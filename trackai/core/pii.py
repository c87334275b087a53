"""Normalise and hash personal data exactly as Meta's CAPI rules ask (meta_capi.md §A3).

Email: trim + lowercase. Phone: E.164 via ``phonenumbers`` with Brazil as the default region
(55 added when missing, trunk 0 dropped, the mobile 9th digit kept), then digits only without '+'.
Hash: lowercase hex SHA-256 of the UTF-8 string. Empty or unusable values are never hashed (None).
A value that is already 64-hex is taken as a hash and passed through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import phonenumbers

DEFAULT_REGION = "BR"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str | None) -> bool:
    return bool(value) and bool(_SHA256_HEX.match(value))


def normalize_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if not value or not _EMAIL.match(value):
        return None
    return value


_PHONE_MEMO: ContextVar[dict[tuple[str, str], str | None] | None] = ContextVar(
    "trackai_phone_memo", default=None
)


@contextmanager
def phones_parsed_once() -> Iterator[None]:
    """Within the block each distinct phone is normalised once: a webhook mapping reads the buyer's phone
    for the conversion and again for the redacted payload, and ``phonenumbers.parse`` is the costliest step
    of the mapping (issue 21). The memo lives only for the block, so no plaintext phone outlives it."""
    token = _PHONE_MEMO.set({})
    try:
        yield
    finally:
        _PHONE_MEMO.reset(token)


def normalize_phone(raw: str | int | None, default_region: str = DEFAULT_REGION) -> str | None:
    """Digits of the E.164 form without '+', e.g. ``5511987654321``; None when not a possible number."""
    if raw is None:
        return None
    memo = _PHONE_MEMO.get()
    if memo is None:
        return _normalize_phone(raw, default_region)
    key = (str(raw), default_region)
    if key not in memo:
        memo[key] = _normalize_phone(raw, default_region)
    return memo[key]


def _normalize_phone(raw: str | int, default_region: str) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        candidate = "+" + digits
    elif digits.startswith("00"):  # international call prefix
        candidate = "+" + digits[2:]
    else:
        national = digits.lstrip("0")  # trunk prefix
        if default_region == "BR" and national.startswith("55") and len(national) in (12, 13):
            candidate = "+" + national  # country code already present, '+' missing
        else:
            candidate = national
    try:
        parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def hash_email(raw: str | None) -> str | None:
    if raw is not None and is_sha256_hex(str(raw).strip().lower()):
        return str(raw).strip().lower()
    normalized = normalize_email(raw)
    return sha256_hex(normalized) if normalized else None


def hash_phone(raw: str | int | None, default_region: str = DEFAULT_REGION) -> str | None:
    if raw is not None and is_sha256_hex(str(raw).strip().lower()):
        return str(raw).strip().lower()
    normalized = normalize_phone(raw, default_region)
    return sha256_hex(normalized) if normalized else None
