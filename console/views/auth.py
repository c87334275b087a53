"""Login, logout, invites (set a password) and the language switch."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console import web
from console.security import (
    LANG_COOKIE,
    PRE_SESSION_COOKIE,
    PRE_SESSION_MAX_AGE,
    SESSION_COOKIE,
    cookies_secure,
    throttle_key,
)
from trackai.console_data import users

router = APIRouter()
# Verified against when the e-mail is unknown, so a wrong e-mail costs the same time as a wrong password.
_DUMMY_HASH = users.hash_password("not-a-real-password-0000")


def _set_pre_session(request: Request, response: Response, cookie: str | None) -> Response:
    if cookie:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            cookie,
            max_age=PRE_SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=cookies_secure(web.state(request).settings),
        )
    return response


def _open_session(request: Request, user_id: str, target: str) -> Response:
    s = web.state(request)
    cookie, token = s.signer.new_session()
    with s.database.auth_tx() as conn:
        conn.execute(
            "SELECT console.session_open(%s, %s, %s)",
            (user_id, web.session_hash(token), s.signer.session_max_age),
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=s.signer.session_max_age,
        httponly=True,
        samesite="lax",
        secure=cookies_secure(s.settings),
    )
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/", msg: str | None = None) -> Response:
    if web.optional_user(request):
        return RedirectResponse(web.safe_next(next), status_code=303)
    cookie = web.ensure_pre_session(request)
    notice = {"logged_out": "login.logged_out", "expired": "login.expired"}.get(msg or "")
    response = web.render(request, "login.html", next=web.safe_next(next), notice=notice, error=None)
    return _set_pre_session(request, response, cookie)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await web.check_csrf(request)
    s = web.state(request)
    limits = s.settings.console
    email = str(form.get("email") or "").strip().lower()[:320]
    password = str(form.get("password") or "")
    target = web.safe_next(form.get("next"))
    keys = (throttle_key("email", email), throttle_key("ip", request.client.host if request.client else "?"))
    window = limits.login_window_minutes * 60
    with s.database.auth_tx() as conn:
        by_email, by_ip = (
            conn.execute("SELECT console.login_failures(%s, %s) AS n", (key, window)).fetchone()["n"]
            for key in keys
        )
        if by_email >= limits.login_max_failures_email or by_ip >= limits.login_max_failures_ip:
            response = web.render(
                request,
                "login.html",
                status_code=429,
                next=target,
                notice=None,
                error=web.translator(request).t("login.throttled", minutes=math.ceil(window / 60)),
            )
            response.headers["Retry-After"] = str(window)
            return response
        found = conn.execute("SELECT * FROM console.auth_lookup(%s)", (email,)).fetchone()
    valid = users.verify_password(found["password_hash"] if found else _DUMMY_HASH, password)
    if not (found and found["active"] and found["password_hash"] and valid):
        with s.database.auth_tx() as conn:
            for key in keys:
                conn.execute("SELECT console.login_failed(%s, %s)", (key, window))
        return web.render(
            request,
            "login.html",
            status_code=401,
            next=target,
            notice=None,
            error=web.translator(request).t("login.failed"),
        )
    with s.database.auth_tx() as conn:
        conn.execute("SELECT console.login_succeeded(%s)", (keys[0],))
    if found["role"] == "operator" and target == "/":
        target = "/operator/tenants"
    return _open_session(request, str(found["user_id"]), target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await web.check_csrf(request)
    s = web.state(request)
    token = s.signer.session_token(request.cookies.get(SESSION_COOKIE))
    if token:
        with s.database.auth_tx() as conn:
            conn.execute("SELECT console.session_close(%s)", (web.session_hash(token),))
    response = RedirectResponse("/login?msg=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/invite/{token}")
def invite_page(request: Request, token: str) -> Response:
    s = web.state(request)
    with s.database.auth_tx() as conn:
        row = conn.execute("SELECT * FROM console.invite_lookup(%s)", (users.token_hash(token),)).fetchone()
    cookie = web.ensure_pre_session(request)
    response = web.render(
        request,
        "invite.html",
        status_code=200 if row else 404,
        token=token,
        email=row["email"] if row else None,
        error=None,
        min_length=users.MIN_PASSWORD_LENGTH,
    )
    return _set_pre_session(request, response, cookie)


@router.post("/invite/{token}")
async def invite_accept(request: Request, token: str) -> Response:
    form = await web.check_csrf(request)
    s = web.state(request)
    i = web.translator(request)
    password, confirm = str(form.get("password") or ""), str(form.get("confirm") or "")
    with s.database.auth_tx() as conn:
        row = conn.execute("SELECT * FROM console.invite_lookup(%s)", (users.token_hash(token),)).fetchone()
    if row is None:
        return web.render(
            request,
            "invite.html",
            status_code=404,
            token=token,
            email=None,
            error=None,
            min_length=users.MIN_PASSWORD_LENGTH,
        )
    error = None
    if password != confirm:
        error = i.t("invite.mismatch")
    else:
        try:
            users.check_password(password, row["email"])
        except users.UserError:
            error = i.t("invite.policy", n=users.MIN_PASSWORD_LENGTH)
    if error:
        return web.render(
            request,
            "invite.html",
            status_code=400,
            token=token,
            email=row["email"],
            error=error,
            min_length=users.MIN_PASSWORD_LENGTH,
        )
    with s.database.auth_tx() as conn:
        user_id = conn.execute(
            "SELECT console.invite_accept(%s, %s) AS user_id",
            (users.token_hash(token), users.hash_password(password)),
        ).fetchone()["user_id"]
    if user_id is None:  # spent or expired between the two reads
        return web.render(
            request,
            "invite.html",
            status_code=404,
            token=token,
            email=None,
            error=None,
            min_length=users.MIN_PASSWORD_LENGTH,
        )
    return _open_session(request, str(user_id), "/")


@router.post("/lang")
async def switch_language(request: Request) -> Response:
    form = await web.check_csrf(request)
    lang = "en" if form.get("lang") == "en" else "pt-BR"
    response = RedirectResponse(web.safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 86400,
        samesite="lax",
        secure=cookies_secure(web.state(request).settings),
    )
    return response
