"""The session id the tracking snippet mints, and the only value that may join a purchase to a click.

``tai_`` + 22 characters of [A-Za-z0-9] from the browser's CSPRNG (about 131 bits): an attacker who
knows the tenant id (it is public) still cannot guess a buyer's id, so a click posted with a made-up
``session_id`` (``facebook``, ``cpc``, ``HOTMART_PRODUCT_PAGE``, a utm value) can never be the
deterministic match of a real purchase. Anything else a checkout carries (utm_*, src/sck defaults) is
not a session key. The snippet's JavaScript uses ``JS_PATTERN``, generated from the same constants.
"""

from __future__ import annotations

import re
import secrets
import string

PREFIX = "tai_"
RANDOM_LENGTH = 22
ALPHABET = string.ascii_letters + string.digits
PATTERN = rf"^{PREFIX}[A-Za-z0-9]{{{RANDOM_LENGTH}}}$"
SESSION_ID_RE = re.compile(PATTERN)
# The same rule as a JavaScript regex literal (the snippet validates its cookie with it).
JS_PATTERN = "/" + PATTERN + "/"


def is_session_id(value: object) -> bool:
    """True only for ids shaped exactly like the snippet's own."""
    return isinstance(value, str) and SESSION_ID_RE.match(value) is not None


def new_session_id() -> str:
    """A fresh id, as the snippet makes one (tests, the demo, server-side fallbacks)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
