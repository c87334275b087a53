"""Consent for landing clicks (pure; issue 23, docs/privacy.md "Consent").

A tenant may require consent (``privacy.tenant_settings.consent_required``). The snippet then reads the
page's consent signal (``window.trackaiConsent``, ``trackai.setConsent(...)`` or IAB TCF v2's
``__tcfapi``) and sends ``"consent": true`` only when it is granted; without it the snippet sends no
identifiers and ``"consent": false``. The server does not trust the browser alone: under that setting a
click whose body does not say ``"consent": true`` loses every identifier here before it is landed.

Identifiers dropped: email, phone, external_id, fbc, fbp, fbclid (also removed from the landing URL and
referrer query strings), the client IP and the user agent. The session id stays (it is random and
first-party: without it no checkout could be joined to an anonymous click at all) and so do the URL's
path and utm_* values.
"""

from __future__ import annotations

import re
from typing import Any

IDENTIFIER_FIELDS = (
    "email_hash",
    "phone_hash",
    "external_id",
    "fbc",
    "fbp",
    "fbclid",
    "client_ip",
    "user_agent",
)
_FBCLID_PARAM = re.compile(r"([?&])fbclid=[^&#]*&?")


def consent_denied(consent_required: bool, consent: bool | None) -> bool:
    """True when the tenant requires consent and the click does not carry an explicit grant."""
    return bool(consent_required) and consent is not True


def strip_fbclid(url: str | None) -> str | None:
    """The URL without its fbclid query parameter (the rest untouched)."""
    if not url or "fbclid=" not in url:
        return url
    out = _FBCLID_PARAM.sub(lambda m: m.group(1), url)
    return out[:-1] if out.endswith(("?", "&")) else out


def without_identifiers(params: dict[str, Any]) -> dict[str, Any]:
    """A landing.clicks row (``ingest_service`` params) with every identifier removed."""
    out = dict(params)
    for name in IDENTIFIER_FIELDS:
        if name in out:
            out[name] = None
    for name in ("landing_url", "referrer"):
        if name in out:
            out[name] = strip_fbclid(out[name])
    out["consent_denied"] = True
    return out
