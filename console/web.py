"""Request plumbing shared by the views: the logged-in user, the language, CSRF, rendering."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from console.db import Database
from console.i18n import Translator, resolve_locale
from console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    LANG_COOKIE,
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    Signer,
    same_origin,
)
from trackai.settings import Settings

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"


@dataclass
class ConsoleState:
    settings: Settings
    database: Database
    signer: Signer
    templates: Jinja2Templates
    tenant_names: dict[str, str] = field(default_factory=dict)  # header cache; names rarely change


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    tenant_id: str | None  # the seller's tenant (None for operators)
    acting_tenant_id: str | None  # the tenant an operator chose
    session_token: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def tenant_in_view(self) -> str | None:
        return self.acting_tenant_id if self.is_operator else self.tenant_id


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, fragments and posts answer 401."""


class ChooseTenant(Exception):
    """An operator has not chosen which tenant to look at yet."""


class CsrfRefused(Exception):
    """A state-changing request without a valid CSRF token, or from another origin."""


class BadRequest(Exception):
    """Input that cannot be used; the message is shown to the user (never echoing PII)."""


def state(request: Request) -> ConsoleState:
    return request.app.state.console


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def translator(request: Request) -> Translator:
    return Translator(
        resolve_locale(request.cookies.get(LANG_COOKIE)), state(request).settings.console.timezone
    )


def optional_user(request: Request) -> User | None:
    cached = getattr(request.state, "user", False)
    if cached is not False:
        return cached
    s = state(request)
    user = None
    token = s.signer.session_token(request.cookies.get(SESSION_COOKIE))
    if token:
        with s.database.auth_tx() as conn:
            row = conn.execute("SELECT * FROM console.session_get(%s)", (session_hash(token),)).fetchone()
        if row:
            user = User(
                str(row["user_id"]),
                row["email"],
                row["role"],
                str(row["tenant_id"]) if row["tenant_id"] else None,
                str(row["acting_tenant_id"]) if row["acting_tenant_id"] else None,
                token,
            )
    request.state.user = user
    return user


def require_user(request: Request) -> User:
    user = optional_user(request)
    if user is None:
        raise LoginRequired
    return user


def require_tenant(request: Request) -> tuple[User, str]:
    """The user and the one tenant this request may see."""
    user = require_user(request)
    tenant = user.tenant_in_view
    if tenant is None:
        raise ChooseTenant
    return user, tenant


def csrf_seed(request: Request) -> str | None:
    """The session token when logged in, else the signed pre-session cookie's seed (or the one this
    response is about to set, see ``ensure_pre_session``)."""
    s = state(request)
    token = s.signer.session_token(request.cookies.get(SESSION_COOKIE))
    return (
        token
        or s.signer.pre_session_seed(request.cookies.get(PRE_SESSION_COOKIE))
        or getattr(request.state, "pre_seed", None)
    )


def ensure_pre_session(request: Request) -> str | None:
    """For pages with a form before login: a signed pre-session cookie to bind the CSRF token to.
    Returns the cookie value to set, or None when the request already has a valid one."""
    s = state(request)
    if s.signer.pre_session_seed(request.cookies.get(PRE_SESSION_COOKIE)):
        return None
    cookie, seed = s.signer.new_pre_session()
    request.state.pre_seed = seed
    return cookie


async def check_csrf(request: Request) -> dict[str, Any]:
    """Refuse unless the token matches this session and the request came from this console; returns the form."""
    s = state(request)
    form = await request.form()
    presented = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    origin_ok = same_origin(
        request.headers.get("origin"), request.headers.get("host"), s.settings.console.public_url
    )
    if not origin_ok or not s.signer.csrf_valid(
        csrf_seed(request), presented if isinstance(presented, str) else None
    ):
        raise CsrfRefused
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}


def safe_next(value: object, default: str = "/") -> str:
    """A local path to go back to (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def login_url(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(path, safe='')}"


def tenant_name(request: Request, tenant_id: str) -> str:
    s = state(request)
    if tenant_id not in s.tenant_names:
        with s.database.tenant_tx(tenant_id) as conn:
            row = conn.execute(
                "SELECT tenant_name FROM analytics.console_tenant_setup WHERE tenant_id = %s", (tenant_id,)
            ).fetchone()
        if row is None:
            return ""
        s.tenant_names[tenant_id] = row["tenant_name"]
    return s.tenant_names[tenant_id]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    s = state(request)
    seed = csrf_seed(request)
    user = optional_user(request)
    context.setdefault(
        "tenant_name", tenant_name(request, user.tenant_in_view) if user and user.tenant_in_view else ""
    )
    values = {
        "request": request,
        "i": translator(request),
        "user": user,
        "csrf": s.signer.csrf_token(seed) if seed else "",
        "settings": s.settings,
        "path": request.url.path,
        **context,
    }
    return s.templates.TemplateResponse(request, template, values, status_code=status_code)
