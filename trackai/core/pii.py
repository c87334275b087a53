"""Normalise and hash personal data exactly as Meta's CAPI rules ask (meta_capi.md §A3).

Email: trim + lowercase. Phone: E.164 via ``phonenumbers`` with Brazil as the default region, then digits
only without '+': 55 added when missing (Meta wants the country code; the official SDK never adds it), the
trunk 0 and the carrier-selection code dropped (``0 21 (11) 9…`` dials 11 9… through carrier 21), an old
8-digit mobile (before the 9th digit, 2016) given its 9, and a number that is not a valid personal number
(no area code, wrong length, toll-free/premium) dropped rather than hashed. The other customer fields
(names, address, birth date) are in ``trackai.core.customer``.
Hash: lowercase hex SHA-256 of the UTF-8 string. Empty or unusable values are never hashed (None).
A value that is already 64-hex is taken as a hash and passed through.
"""

from __future__ import annotations

import hashlib
import re
from contextvars import ContextVar

import phonenumbers

DEFAULT_REGION = "BR"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str | None) -> bool:
    # the pattern's "$" also matches before one trailing newline: 64 or 65 characters, nothing else
    return bool(value) and len(value) in (64, 65) and bool(_SHA256_HEX.match(value))


def normalize_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if not value or not _EMAIL.match(value):
        return None
    return value


_PHONE_MEMO: ContextVar[dict[tuple[str, ...], str | None] | None] = ContextVar(
    "trackai_phone_memo", default=None
)


class _PhonesParsedOnce:
    """The block of ``phones_parsed_once`` (a plain context manager: it runs once per webhook)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _PHONE_MEMO.set({})

    def __exit__(self, *exc: object) -> None:
        _PHONE_MEMO.reset(self._token)


def phones_parsed_once() -> _PhonesParsedOnce:
    """Within the block each distinct phone is normalised once, and each distinct email/phone hashed once:
    a webhook mapping reads the buyer's email and phone for the conversion and again for the redacted
    payload, and ``phonenumbers.parse`` is the costliest step of the mapping (issue 21). The memo lives only
    for the block, so no plaintext email or phone outlives it."""
    return _PhonesParsedOnce()


_NOT_PERSONAL = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
    }
)


def normalize_phone(raw: str | int | None, default_region: str = DEFAULT_REGION) -> str | None:
    """Digits of the E.164 form without '+', e.g. ``5511987654321``; None unless a valid personal number."""
    if raw is None:
        return None
    memo = _PHONE_MEMO.get()
    if memo is None:
        return _normalize_phone(raw, default_region)
    key = (str(raw), default_region)
    if key not in memo:
        memo[key] = _normalize_phone(raw, default_region)
    return memo[key]


_NON_DIGITS = re.compile(r"\D")


def _normalize_phone(raw: str | int, default_region: str, *, fast: bool = True) -> str | None:
    """``fast=False`` skips the Brazilian fast path: the phonenumbers-only result it must equal (tested)."""
    text = str(raw).strip()
    if not text or len(text) > 40:
        return None
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return None
    if text.startswith("+"):
        candidate, region = "+" + digits, None
    elif digits.startswith("00"):  # international call prefix
        candidate, region = "+" + digits[2:], None
    elif default_region == "BR" and digits.startswith("55") and len(digits) in (12, 13):
        candidate, region = "+" + digits, None  # country code present, '+' missing
    else:
        # National form: phonenumbers' Brazilian metadata strips the trunk 0 and a carrier code after it.
        candidate, region = digits, default_region
    national = _br_national_number(candidate, region) if fast else None
    if national is not None:
        # Fast path (issue 21): for these forms phonenumbers.parse gives PhoneNumber(55, national) and
        # nothing else, so only the type lookup (the same metadata) is left; same rule, same result.
        return _br_by_type(national)
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        parsed = _with_ninth_digit(parsed)
    if parsed is None or phonenumbers.number_type(parsed) in _NOT_PERSONAL:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def _br_national_number(candidate: str, region: str | None) -> str | None:
    """The Brazilian national number (DDD + 8/9 digits) that ``phonenumbers.parse(candidate, region)`` reads
    without any of its rewriting, or None when parse may do more (then parse itself runs).

    ``+55`` + 10/11 digits, or 10/11 national digits with region BR, where the national number starts with
    1-9 (no trunk 0 to strip), not with 90 (Brazil's ``national_prefix_for_parsing`` is ``0|90…``), and, in
    national form, not with 55 (parse may read that as the country code). Every other number (foreign,
    other lengths, DDD 55 written without +55) takes the phonenumbers path."""
    if region is None:
        if not candidate.startswith("+55"):
            return None
        national = candidate[3:]
    elif region == "BR" and candidate[:2] != "55":
        national = candidate
    else:
        return None
    if len(national) not in (10, 11) or national[0] == "0" or national[:2] == "90":
        return None
    return national


def _br_type(national: str) -> int:
    """phonenumbers' type of +55 ``national``; UNKNOWN means not a valid number (is_valid_number's test)."""
    return phonenumbers.number_type(phonenumbers.PhoneNumber(country_code=55, national_number=int(national)))


def _br_by_type(national: str) -> str | None:
    kind = _br_type(national)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        # _with_ninth_digit on the same number: an old 8-digit mobile gets its 9
        if len(national) != 10 or national[2] not in "6789":
            return None
        national = national[:2] + "9" + national[2:]
        kind = _br_type(national)
        if kind == phonenumbers.PhoneNumberType.UNKNOWN:
            return None
    if kind in _NOT_PERSONAL:
        return None
    return "55" + national


def _with_ninth_digit(parsed: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber | None:
    """A Brazilian mobile in its pre-2016 8-digit form (DDD + 6-9xxx-xxxx) as today's 9-digit number."""
    national = str(parsed.national_number)
    if parsed.country_code != 55 or len(national) != 10 or national[2] not in "6789":
        return None
    fixed = phonenumbers.PhoneNumber(country_code=55, national_number=int(national[:2] + "9" + national[2:]))
    return fixed if phonenumbers.is_valid_number(fixed) else None


def hash_email(raw: str | None) -> str | None:
    memo = _PHONE_MEMO.get()
    if memo is None or raw is None:
        return _hash_email(raw)
    key = ("email", str(raw), "")  # three parts: never equal to a phone's (raw, region) key
    if key not in memo:
        memo[key] = _hash_email(raw)
    return memo[key]


def _hash_email(raw: str | None) -> str | None:
    if raw is not None and is_sha256_hex(str(raw).strip().lower()):
        return str(raw).strip().lower()
    normalized = normalize_email(raw)
    return sha256_hex(normalized) if normalized else None


def hash_phone(raw: str | int | None, default_region: str = DEFAULT_REGION) -> str | None:
    memo = _PHONE_MEMO.get()
    if memo is None or raw is None:
        return _hash_phone(raw, default_region)
    key = ("phone", str(raw), default_region)
    if key not in memo:
        memo[key] = _hash_phone(raw, default_region)
    return memo[key]


def _hash_phone(raw: str | int | None, default_region: str) -> str | None:
    if raw is not None and is_sha256_hex(str(raw).strip().lower()):
        return str(raw).strip().lower()
    normalized = normalize_phone(raw, default_region)
    return sha256_hex(normalized) if normalized else None
