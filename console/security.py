"""Sessions, CSRF, login throttling keys and security headers of the console.

* Session cookie: a random token signed with itsdangerous (timestamped, expires after
  TRACKAI_CONSOLE_SESSION_HOURS), HttpOnly, SameSite=Lax, Secure on https. The database keeps only the
  token's SHA-256 with its own expiry, so logout and password resets end a session for real.
* CSRF: every state-changing request carries ``csrf_token`` (form field or X-CSRF-Token header) equal to
  HMAC(secret, session token), or HMAC(secret, the signed pre-session cookie) before login; a request whose
  Origin is another site is refused as well.
* Headers: a strict Content-Security-Policy (only this origin's scripts and styles, no inline script,
  no framing), nosniff, no referrer leaving the site, no-store for pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from trackai.settings import Settings

SESSION_COOKIE = "trackai_console"
PRE_SESSION_COOKIE = "trackai_console_pre"
LANG_COOKIE = "trackai_console_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PRE_SESSION_MAX_AGE = 2 * 3600

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def session_secret(settings: Settings) -> bytes:
    """TRACKAI_CONSOLE_SESSION_SECRET, else a key derived from TRACKAI_SECRET_KEY (or the development key)."""
    if settings.console.session_secret:
        return settings.console.session_secret.encode()
    from trackai.secrets import _key  # the Fernet key the library resolves (env, or the dev key file)

    return hmac.new(_key(settings), b"trackai-console-session-v1", hashlib.sha256).digest()


def cookies_secure(settings: Settings) -> bool:
    if settings.console.cookie_secure == "auto":
        return settings.console.public_url.lower().startswith("https://")
    return settings.console.cookie_secure == "true"


@dataclass(frozen=True)
class Signer:
    secret: bytes
    session_max_age: int

    def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=salt)

    def new_session(self) -> tuple[str, str]:
        """(cookie value, token): the token stays server side only as its SHA-256."""
        token = secrets.token_urlsafe(32)
        return self._serializer("session").dumps(token), token

    def session_token(self, cookie: str | None) -> str | None:
        return self._load("session", cookie, self.session_max_age)

    def new_pre_session(self) -> tuple[str, str]:
        seed = secrets.token_urlsafe(24)
        return self._serializer("pre-session").dumps(seed), seed

    def pre_session_seed(self, cookie: str | None) -> str | None:
        return self._load("pre-session", cookie, PRE_SESSION_MAX_AGE)

    def csrf_token(self, seed: str) -> str:
        return hmac.new(self.secret, b"csrf:" + seed.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, seed: str | None, presented: str | None) -> bool:
        if not seed or not presented:
            return False
        return hmac.compare_digest(self.csrf_token(seed), presented)

    def _load(self, salt: str, cookie: str | None, max_age: int) -> str | None:
        if not cookie:
            return None
        try:
            value = self._serializer(salt).loads(cookie, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None
        return value if isinstance(value, str) else None


def throttle_key(kind: str, value: str) -> str:
    """What the login throttle stores for an e-mail or an address: a SHA-256, never the value."""
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode()).hexdigest()


def same_origin(origin: str | None, host: str | None, public_url: str) -> bool:
    """An Origin header (when the browser sent one) must be this console: its public URL or the Host asked."""
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    allowed = {urlsplit(public_url).netloc.lower()}
    if host:
        allowed.add(host.lower())
    return parts.netloc.lower() in allowed
