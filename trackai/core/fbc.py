"""Meta's click and browser ids: the one grammar of ``fbc``/``fbp`` and the one fbclid extractor.

``fbc`` is ``fb.{subdomainIndex}.{creationTime ms}.{fbclid}`` with an optional Parameter Builder appendix
(``.{8 chars}``); ``fbp`` is ``fb.{subdomainIndex}.{creationTime ms}.{random int}`` (+ appendix). The
fbclid is case-sensitive and must never be decoded, re-cased or truncated; a value that is itself an fbc
(``fb.1.x.fb.1.y.id``) is the re-wrapping mistake that makes Meta reject the whole event (subcode 2804001).
Ingest, matching, the CAPI payload, the CAPI validator, the Graph API fake and the snippet all use this.
See ../shared/reference/meta_capi.md §A4.
"""

from __future__ import annotations

import re

# The characters an fbclid is made of (base64url alphabet); also what the snippet accepts from a URL.
FBCLID_CHARS = r"A-Za-z0-9_\-"
FBCLID_PATTERN = rf"[{FBCLID_CHARS}]{{1,500}}"
_PREFIX = r"fb\.[0-9]{1,2}\.[0-9]{10,13}\."
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
    """The fbclid inside a well-formed fbc (appendix dropped); None for anything else."""
    if not fbc:
        return None
    match = FBC_RE.match(fbc)
    return match.group(1) if match else None


def build_fbc(fbclid: str, first_seen_ms: int) -> str:
    """``fb.1.<first-seen-ms>.<fbclid>``: built once, when the click is first seen, and stored verbatim."""
    if not is_valid_fbclid(fbclid):
        raise ValueError("not an fbclid")
    return f"fb.{SERVER_SUBDOMAIN_INDEX}.{first_seen_ms}.{fbclid}"
