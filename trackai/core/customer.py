"""The customer fields Meta scores besides email and phone: normalised per Meta's rules, then hashed.

Keys (meta_capi.md §A3): ``fn``, ``ln``, ``ct``, ``st``, ``zp``, ``country``, ``db``, ``ge``. Every value
is normalised here, hashed with ``trackai.core.pii.sha256_hex`` at ingest, and only the hash is stored
(``*_hash`` columns of landing.conversions and core.purchases). A value that cannot be normalised is
dropped, never hashed. Where Meta's text and the official Python SDK disagree we follow Meta's text;
docs/gateways.md ("Customer data") lists each difference and tests/customer_data checks it against the
SDK.

- Text: Unicode NFC, lowercase; names and cities keep their accents (Meta: ``Valéry`` -> ``valéry``) and
  lose punctuation, symbols, digits and spaces.
- ``fn``/``ln`` from a full name: first word, and the last surname that is not a particle (de, da, dos,
  ...) or a generational suffix (Filho, Júnior, Neto, ...). ``Maria Clara de Souza Santos`` -> maria,
  santos. A single word gives ``fn`` only.
- ``country``: lowercase ISO 3166-1 alpha-2 (``BR``, ``Brasil``, ``Brazil``, ``BRA`` -> ``br``).
- ``st``: Brazil's 2-letter UF code from the code or the state's name (``São Paulo`` -> ``sp``; a name that
  is no Brazilian state is dropped); elsewhere lowercase letters only.
- ``zp``: Brazilian CEP as its 8 digits (``01310-100`` -> ``01310100``; a CEP that lost its leading zero
  to a JSON number is padded); US ZIP first 5 digits; elsewhere lowercase letters and digits only.
- ``db``: ``YYYYMMDD`` from ``YYYY-MM-DD`` (ISO, optionally with a time) or ``DD/MM/YYYY`` (Brazilian
  order); a date that does not exist or is not in 1900..this year is dropped.
- ``ge``: ``f`` or ``m`` (also from female/male/feminino/masculino); nothing is ever inferred from a name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from trackai.core.pii import DEFAULT_REGION, is_sha256_hex, sha256_hex

KEYS = ("fn", "ln", "ct", "st", "zp", "country", "db", "ge")
# Storage column of each key (landing.conversions, core.purchases: sql/0910).
COLUMNS = {key: f"{key}_hash" for key in KEYS}
MAX_INPUT = 200  # longer inputs are not a name or an address field

# ISO 3166-1 alpha-2 (249 codes; the list pycountry, the SDK's validator, ships).
ISO_ALPHA2 = frozenset(
    [
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BL",
        "BM",
        "BN",
        "BO",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BY",
        "BZ",
        "CA",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CR",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "YE",
        "YT",
        "ZA",
        "ZM",
        "ZW",
    ]
)
# Country names and alpha-3 codes the gateways' buyers (Brazil and neighbours) actually send, keyed by the
# letters-only lowercase form without accents.
COUNTRY_ALIASES = {
    "brasil": "BR",
    "brazil": "BR",
    "bra": "BR",
    "republicafederativadobrasil": "BR",
    "portugal": "PT",
    "prt": "PT",
    "estadosunidos": "US",
    "estadosunidosdaamerica": "US",
    "unitedstates": "US",
    "unitedstatesofamerica": "US",
    "usa": "US",
    "eua": "US",
    "argentina": "AR",
    "arg": "AR",
    "paraguai": "PY",
    "paraguay": "PY",
    "pry": "PY",
    "uruguai": "UY",
    "uruguay": "UY",
    "ury": "UY",
    "chile": "CL",
    "chl": "CL",
    "bolivia": "BO",
    "bol": "BO",
    "peru": "PE",
    "per": "PE",
    "colombia": "CO",
    "col": "CO",
    "mexico": "MX",
    "mex": "MX",
    "espanha": "ES",
    "spain": "ES",
    "angola": "AO",
    "mocambique": "MZ",
    "mozambique": "MZ",
    "canada": "CA",
    "reinounido": "GB",
    "unitedkingdom": "GB",
}
# Brazil's 27 federative units: name (letters only, no accents) -> UF code.
BR_STATES = {
    "acre": "AC",
    "alagoas": "AL",
    "amapa": "AP",
    "amazonas": "AM",
    "bahia": "BA",
    "ceara": "CE",
    "distritofederal": "DF",
    "espiritosanto": "ES",
    "goias": "GO",
    "maranhao": "MA",
    "matogrosso": "MT",
    "matogrossodosul": "MS",
    "minasgerais": "MG",
    "para": "PA",
    "paraiba": "PB",
    "parana": "PR",
    "pernambuco": "PE",
    "piaui": "PI",
    "riodejaneiro": "RJ",
    "riograndedonorte": "RN",
    "riograndedosul": "RS",
    "rondonia": "RO",
    "roraima": "RR",
    "santacatarina": "SC",
    "saopaulo": "SP",
    "sergipe": "SE",
    "tocantins": "TO",
}
BR_UF = frozenset(BR_STATES.values())
# Words of a Brazilian/Portuguese full name that are not a surname on their own.
NAME_PARTICLES = frozenset({"de", "da", "do", "das", "dos", "e", "di", "del", "van", "von", "la", "le"})
NAME_SUFFIXES = frozenset(
    {"filho", "filha", "junior", "jr", "neto", "neta", "sobrinho", "sobrinha", "segundo", "terceiro"}
)
GENDERS = {
    "f": "f",
    "female": "f",
    "feminino": "f",
    "mulher": "f",
    "m": "m",
    "male": "m",
    "masculino": "m",
    "homem": "m",
}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_BR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NAME_SEPARATORS = re.compile(r"[\s,;/]+")
_NON_DIGITS = re.compile(r"\D")
_CEP_PUNCTUATION = re.compile(r"[\s.\-]")
_NOT_ASCII_LETTERS = re.compile(r"[^a-z]")


def _raw(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text if text and len(text) <= MAX_INPUT else None


def _letters(text: str) -> str:
    """Lowercase letters (accents kept, combining marks kept after NFC): no spaces, digits, punctuation."""
    lowered = text.lower()
    joined = lowered.replace(" ", "")  # a space is never a letter or a mark
    if joined.isalpha():  # every character a letter (L*): nothing to drop (the usual name or city)
        return joined
    return "".join(ch for ch in lowered if unicodedata.category(ch)[0] in "LM")


def _ascii_letters(text: str) -> str:
    """Letters without accents, for looking names up in the tables above (never for hashing)."""
    lowered = text.lower()
    if lowered.isascii():  # NFD leaves ASCII as it is
        return _NOT_ASCII_LETTERS.sub("", lowered)
    decomposed = unicodedata.normalize("NFD", lowered)
    return "".join(ch for ch in decomposed if "a" <= ch <= "z")


def _name_words(text: str) -> list[str]:
    return [w for w in (_letters(part) for part in _NAME_SEPARATORS.split(text)) if w]


# --- one normaliser per key -------------------------------------------------------------------


def normalize_first_name(value: Any) -> str | None:
    text = _raw(value)
    words = _name_words(text) if text else []
    return words[0] if words else None


def normalize_last_name(value: Any) -> str | None:
    """The last surname of a last-name field (particles and generational suffixes skipped)."""
    text = _raw(value)
    words = _name_words(text) if text else []
    surnames = [w for w in words if _ascii_letters(w) not in NAME_PARTICLES]
    while len(surnames) > 1 and _ascii_letters(surnames[-1]) in NAME_SUFFIXES:
        surnames.pop()
    return surnames[-1] if surnames else None


def split_full_name(value: Any) -> tuple[str | None, str | None]:
    """(fn, ln) of a full name: first word, last surname; one word -> (fn, None)."""
    text = _raw(value)
    words = _name_words(text) if text else []
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    return words[0], normalize_last_name(" ".join(words[1:]))


def normalize_city(value: Any) -> str | None:
    text = _raw(value)
    city = _letters(text) if text else ""
    return city or None


def normalize_country(value: Any) -> str | None:
    text = _raw(value)
    if not text:
        return None
    key = _ascii_letters(text)
    code = key.upper() if len(key) == 2 else COUNTRY_ALIASES.get(key)
    return code.lower() if code in ISO_ALPHA2 else None


def normalize_state(value: Any, country: str | None = DEFAULT_REGION.lower()) -> str | None:
    """Brazil (or country unknown): the UF code, from the code or the name; else letters only."""
    text = _raw(value)
    if not text:
        return None
    key = _ascii_letters(text)
    if country in (None, "br"):
        if key.upper() in BR_UF:
            return key
        code = BR_STATES.get(key)
        if code:
            return code.lower()
        if country == "br":
            return None  # not a Brazilian state
    state = _letters(text)
    return state or None


def normalize_zip(value: Any, country: str | None = DEFAULT_REGION.lower()) -> str | None:
    """CEP (Brazil, or country unknown and 8 digits) as 8 digits; US 5 digits; else lowercase alnum."""
    text = _raw(value)
    if not text:
        return None
    digits = _NON_DIGITS.sub("", text)
    if country in (None, "br"):
        if isinstance(value, int) and len(digits) == 7:
            digits = "0" + digits  # a CEP sent as a JSON number lost its leading zero
        if len(digits) == 8 and len(digits) >= len(_CEP_PUNCTUATION.sub("", text)):
            return digits
        if country == "br":
            return None  # not a CEP
    if country == "us":
        return digits[:5] if len(digits) >= 5 else None
    alnum = "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())
    return alnum or None


def normalize_birth_date(value: Any, today: date | None = None) -> str | None:
    text = _raw(value)
    if not text:
        return None
    match = _ISO_DATE.match(text) or _COMPACT_DATE.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups()[:3])
    else:
        match = _BR_DATE.match(text)
        if not match:
            return None
        day, month, year = (int(g) for g in match.groups())
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    if not 1900 <= born.year <= (today or date.today()).year or born > (today or date.today()):
        return None
    return born.strftime("%Y%m%d")


def normalize_gender(value: Any) -> str | None:
    text = _raw(value)
    return GENDERS.get(_ascii_letters(text)) if text else None


# --- from a gateway's raw fields to hashed keys --------------------------------------------------


def normalized_fields(
    *,
    full_name: Any = None,
    first_name: Any = None,
    last_name: Any = None,
    city: Any = None,
    state: Any = None,
    zip_code: Any = None,
    country: Any = None,
    birth_date: Any = None,
    gender: Any = None,
) -> dict[str, str]:
    """The normalised (not yet hashed) keys a buyer's raw fields give; absent or unusable ones left out.

    Explicit first/last names win over a split full name. The country (default Brazil, the platform's
    region) decides how the state and the postal code are read."""
    fn, ln = normalize_first_name(first_name), normalize_last_name(last_name)
    if not fn or not ln:
        split_fn, split_ln = split_full_name(full_name)
        fn, ln = fn or split_fn, ln or split_ln
    iso = normalize_country(country)
    region = iso or (None if _raw(country) else DEFAULT_REGION.lower())
    fields = {
        "fn": fn,
        "ln": ln,
        "ct": normalize_city(city),
        "st": normalize_state(state, region),
        "zp": normalize_zip(zip_code, region),
        "country": iso,
        "db": normalize_birth_date(birth_date),
        "ge": normalize_gender(gender),
    }
    return {k: v for k, v in fields.items() if v}


def hashed_fields(**raw: Any) -> dict[str, str]:
    """``normalized_fields`` hashed: ``{"fn": "<sha256 hex>", ...}``; the only form that is stored."""
    return {key: sha256_hex(value) for key, value in normalized_fields(**raw).items()}


# The hash of "" looks valid and matches no one; ge and country normalise into closed sets, so a hash
# outside them was never normalised. The payload leaves such values out; the Graph API fake refuses them.
EMPTY_HASH = sha256_hex("")
CLOSED_SETS = {
    "ge": frozenset(sha256_hex(v) for v in ("f", "m")),
    "country": frozenset(sha256_hex(code.lower()) for code in ISO_ALPHA2),
}


def acceptable_hash(key: str, value: Any) -> bool:
    """A stored/sent value for ``key`` that can be a normalised value's SHA-256."""
    if not isinstance(value, str) or not is_sha256_hex(value) or value == EMPTY_HASH:
        return False
    return key not in CLOSED_SETS or value in CLOSED_SETS[key]


def clean_hashes(values: Mapping[str, Any] | None) -> dict[str, str]:
    """Only the known keys whose values are SHA-256 hex (lowercased): what a stored row may carry."""
    out: dict[str, str] = {}
    if not values:
        return out
    for key in KEYS:
        value = values.get(key)
        if value is None:
            continue
        text = str(value).strip().lower()
        if acceptable_hash(key, text):
            out[key] = text
    return out
