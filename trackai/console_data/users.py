"""Console users: sellers (one tenant each) and operators (every tenant). ``trackai user`` and the demo.

Passwords are argon2id hashes (argon2-cffi). A new user, or one whose password is reset, gets an invite
link: a random token of which only the SHA-256 is stored, expiring after TRACKAI_CONSOLE_INVITE_HOURS; the
console's /invite page sets the password through ``console.invite_accept`` (sql/0601). A reset also
removes the old password and ends every session of the user. These functions need a privileged
connection (the console's own role cannot read console.users).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trackai.settings import Settings, get_settings

ROLES = ("seller", "operator")
MIN_PASSWORD_LENGTH = 12
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user-management request that cannot be done; the message says why."""


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    tenant_id: str | None
    active: bool
    has_password: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class Invite:
    email: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class DemoLogin:
    tenant_id: str | None
    tenant_name: str
    email: str
    password: str
    role: str


def token_hash(token: str) -> str:
    """What the database keeps of a session or invite token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(password: str, email: str) -> None:
    """The password policy: long enough, and not the e-mail address."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == email.strip().lower():
        raise UserError("the password must not be the e-mail address")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.match(value):
        raise UserError(f"{email!r} is not an e-mail address")
    return value


def invite_url(token: str, settings: Settings | None = None) -> str:
    return f"{(settings or get_settings()).console.public_url.rstrip('/')}/invite/{token}"


def create_user(
    conn: psycopg.Connection,
    *,
    email: str,
    role: str = "seller",
    tenant_id: str | None = None,
    password: str | None = None,
    settings: Settings | None = None,
) -> Invite | None:
    """Create a user; with ``password`` it can log in at once, otherwise the returned invite sets it."""
    settings = settings or get_settings()
    email = normalize_email(email)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "seller" and not tenant_id:
        raise UserError("a seller belongs to one tenant: give --tenant")
    if role == "operator" and tenant_id:
        raise UserError("an operator sees every tenant: do not give --tenant")
    if tenant_id:
        tenant_id = _tenant(conn, tenant_id)
    if password is not None:
        check_password(password, email)
    with conn.transaction():
        if conn.execute("SELECT 1 FROM console.users WHERE email = %s", (email,)).fetchone():
            raise UserError(f"a user {email} exists already (use `trackai user invite` or `reset`)")
        conn.execute(
            "INSERT INTO console.users (email, role, tenant_id, password_hash) VALUES (%s, %s, %s, %s)",
            (email, role, tenant_id, hash_password(password) if password is not None else None),
        )
        return None if password is not None else _new_invite(conn, email, settings)


def invite(conn: psycopg.Connection, email: str, settings: Settings | None = None) -> Invite:
    """A fresh invite link for an existing user (the old link stops working); the password is kept."""
    email = normalize_email(email)
    with conn.transaction():
        _existing(conn, email)
        return _new_invite(conn, email, settings or get_settings())


def reset(conn: psycopg.Connection, email: str, settings: Settings | None = None) -> Invite:
    """Remove the password, end every session and return the link that sets a new one."""
    email = normalize_email(email)
    with conn.transaction():
        user_id = _existing(conn, email)
        conn.execute(
            "UPDATE console.users SET password_hash = NULL, updated_at = now() WHERE user_id = %s", (user_id,)
        )
        conn.execute("DELETE FROM console.sessions WHERE user_id = %s", (user_id,))
        return _new_invite(conn, email, settings or get_settings())


def set_active(conn: psycopg.Connection, email: str, active: bool) -> None:
    email = normalize_email(email)
    with conn.transaction():
        user_id = _existing(conn, email)
        conn.execute(
            "UPDATE console.users SET active = %s, updated_at = now() WHERE user_id = %s", (active, user_id)
        )
        if not active:
            conn.execute("DELETE FROM console.sessions WHERE user_id = %s", (user_id,))


def list_users(conn: psycopg.Connection, tenant_id: str | None = None) -> list[User]:
    sql = """SELECT user_id::text, email, role, tenant_id::text, active, password_hash IS NOT NULL, last_login_at
               FROM console.users"""
    params: list = []
    if tenant_id:
        sql += " WHERE tenant_id = %s"
        params.append(_tenant(conn, tenant_id))
    sql += " ORDER BY tenant_id NULLS FIRST, email"
    return [User(*row) for row in conn.execute(sql, params).fetchall()]


def ensure_demo_users(
    conn: psycopg.Connection, tenant_ids: Sequence[str], settings: Settings | None = None
) -> list[DemoLogin]:
    """One seller per demo tenant plus one operator, each with a known demo password (development only).

    Idempotent: a rerun resets those users' passwords to the printed ones and reactivates them, so the
    logins a demo prints always work.
    """
    settings = settings or get_settings()
    if settings.env != "development":
        raise UserError("demo users are refused outside development (TRACKAI_ENV=production)")
    wanted: list[tuple[str | None, str, str, str]] = []
    for tenant_id in tenant_ids:
        row = conn.execute(
            "SELECT name FROM core.tenants WHERE tenant_id = %s", (_tenant(conn, tenant_id),)
        ).fetchone()
        slug = re.sub(r"[^a-z0-9]+", "-", row[0].lower()).strip("-")
        wanted.append((str(uuid.UUID(tenant_id)), row[0], f"{slug}@demo.trackai.local", "seller"))
    wanted.append((None, "operator", "operator@demo.trackai.local", "operator"))
    logins = []
    with conn.transaction():
        for tenant_id, name, email, role in wanted:
            password = "trackai-" + email.split("@")[0]
            conn.execute(
                """INSERT INTO console.users (email, role, tenant_id, password_hash) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, active = true,
                          role = EXCLUDED.role, tenant_id = EXCLUDED.tenant_id, updated_at = now()""",
                (email, role, tenant_id, hash_password(password)),
            )
            logins.append(DemoLogin(tenant_id, name, email, password, role))
    return logins


def _new_invite(conn: psycopg.Connection, email: str, settings: Settings) -> Invite:
    token = secrets.token_urlsafe(32)
    expires = conn.execute(
        """UPDATE console.users SET invite_token_hash = %s,
                  invite_expires_at = now() + make_interval(secs => %s), updated_at = now()
            WHERE email = %s RETURNING invite_expires_at""",
        (token_hash(token), timedelta(hours=settings.console.invite_hours).total_seconds(), email),
    ).fetchone()[0]
    return Invite(email, invite_url(token, settings), expires)


def _existing(conn: psycopg.Connection, email: str) -> str:
    row = conn.execute("SELECT user_id::text FROM console.users WHERE email = %s", (email,)).fetchone()
    if row is None:
        raise UserError(f"no user {email}")
    return row[0]


def _tenant(conn: psycopg.Connection, tenant_id: str) -> str:
    try:
        value = str(uuid.UUID(str(tenant_id)))
    except ValueError as exc:
        raise UserError(f"{tenant_id!r} is not a tenant id (UUID)") from exc
    if not conn.execute("SELECT 1 FROM core.tenants WHERE tenant_id = %s", (value,)).fetchone():
        raise UserError(f"no tenant {value}")
    return value
