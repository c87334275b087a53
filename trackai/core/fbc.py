"""Meta's click and browser ids: the one grammar of ``fbc``/``fbp`` and the one fbclid extractor.

``fbc`` is ``fb.{subdomainIndex}.{creationTime ms}.{fbclid}`` with an optional Parameter Builder appendix
(``.{8 chars}``); ``fbp`` is ``fb.{subdomainIndex}.{creationTime ms}.{random int}`` (+ appendix). The
fbclid is case-sensitive and must never be decoded, re-cased or truncated; a value that is itself an fbc
(``fb.1.x.fb.1.y.id``) is the re-wrapping mistake that makes Meta reject the whole event (subcode 2804001).
Ingest, matching, the CAPI payload, the CAPI validator, the Graph API fake and the snippet all use this.
See ../shared/reference/meta_capi.md §A4.

The creation time is milliseconds (13 digits): a value in seconds is one Meta refuses. ``normalize_fbc`` /
``normalize_fbp`` repair what can be repaired without touching the fbclid (a re-wrapped value is
unwrapped, a creation time in seconds becomes the same instant in ms) and say why; anything else (an
fbclid with ``%2D`` or ``+``: it is never decoded) is dropped with its reason. Ingest calls them once.
"""

from __future__ import annotations

import re

# The characters an fbclid is made of (base64url alphabet); also what the snippet accepts from a URL.
FBCLID_CHARS = r"A-Za-z0-9_\-"
FBCLID_PATTERN = rf"[{FBCLID_CHARS}]{{1,500}}"
_PREFIX = r"fb\.[0-9]{1,2}\.[0-9]{13}\."
_APPENDIX = rf"(?:\.[{FBCLID_CHARS}]{{1,16}})?"
FBC_RE = re.compile(rf"^{_PREFIX}(?!fb\.)({FBCLID_PATTERN}){_APPENDIX}$")
FBP_RE = re.compile(rf"^{_PREFIX}[0-9]{{1,20}}{_APPENDIX}$")
FBCLID_RE = re.compile(rf"^{FBCLID_PATTERN}$")
# Subdomain index to use when the server builds the value without setting the cookie itself.
SERVER_SUBDOMAIN_INDEX = 1


def is_valid_fbc(value: object) -> bool:
    return isinstance(value, str) and FBC_RE.match(value) is not None


def is_valid_fbp(value: object) -> bool:
    return isinstance(value, str) and FBP_RE.match(value) is not None


def is_valid_fbclid(value: object) -> bool:
    return isinstance(value, str) and FBCLID_RE.match(value) is not None


def fbclid_from_fbc(fbc: str | None) -> str | None:
    """The fbclid inside an fbc (appendix dropped), after ``normalize_fbc``; None for anything else."""
    if not fbc:
        return None
    match = FBC_RE.match(fbc) or FBC_RE.match(normalize_fbc(fbc)[0] or "")
    return match.group(1) if match else None


# A value before normalisation: ``fb.<index>.<digits>.<rest>``.
_LOOSE = re.compile(r"^fb\.([0-9]{1,2})\.([0-9]{1,13})\.(.+)$", re.DOTALL)
_MAX_WRAPS = 4


def _normalize(value: object, is_valid, what: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"{what}: not a string"
    text = value.strip()
    if not text:
        return None, None
    if is_valid(text):
        return text, None
    notes: list[str] = []
    for _ in range(_MAX_WRAPS):  # fb.1.x.fb.1.y.id: the inner value is the real one
        match = _LOOSE.match(text)
        if not match or not _LOOSE.match(match.group(3)):
            break
        text = match.group(3)
        if "unwrapped" not in notes:
            notes.append("unwrapped")
    match = _LOOSE.match(text)
    if match and len(match.group(2)) == 10:  # seconds: the same instant in ms
        text = f"fb.{match.group(1)}.{match.group(2)}000.{match.group(3)}"
        notes.append("creation time in seconds made ms")
    if is_valid(text):
        return text, f"{what}: " + ", ".join(notes)
    if match and re.search(r"%|\+", match.group(3)):
        return None, f"{what}: the id has % or + (URL-encoded); Meta refuses it and it is never decoded"
    return None, f"{what}: not fb.<subdomain index>.<creation ms>.<id>"


def normalize_fbc(value: object) -> tuple[str | None, str | None]:
    """(the fbc to keep or None, why it was changed or dropped or None). A well-formed value is kept
    verbatim, appendix included; the fbclid is never decoded, re-cased or truncated."""
    return _normalize(value, is_valid_fbc, "fbc")


def normalize_fbp(value: object) -> tuple[str | None, str | None]:
    """``normalize_fbc`` for ``fbp`` (same prefix rules; the random part is digits)."""
    return _normalize(value, is_valid_fbp, "fbp")


def build_fbc(fbclid: str, first_seen_ms: int) -> str:
    """``fb.1.<first-seen-ms>.<fbclid>``: built once, when the click is first seen, and stored verbatim."""
    if not is_valid_fbclid(fbclid):
        raise ValueError("not an fbclid")
    return f"fb.{SERVER_SUBDOMAIN_INDEX}.{first_seen_ms}.{fbclid}"
