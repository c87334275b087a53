"""Least privilege at startup: in production the ingest service refuses to run as a role that could do
more than land rows (issue 22, finding 7).

Refused: a superuser, a role with BYPASSRLS, and a role that owns (or may act as the owner of, through
role membership) any table, view or sequence of the schemas the service touches. The role meant for it
is ``trackai_app_rw`` (sql/0005_grants.sql): INSERT/SELECT on landing, SELECT on tenants and secrets.
An owner role could rewrite tenant secrets and delete clicks; that is what a leaked ingest credential
must not be able to do. Development (and the tests) may connect as anything.
"""

from __future__ import annotations

import psycopg

from trackai.settings import Settings

SCHEMAS = ("landing", "core", "ops", "analytics")
ROLE_SQL = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       ARRAY(SELECT DISTINCT pg_get_userbyid(c.relowner)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                AND pg_has_role(current_user, c.relowner, 'MEMBER')
              ORDER BY 1)
  FROM pg_roles r
 WHERE r.rolname = current_user
"""


class PrivilegeError(RuntimeError):
    """The configured role may do more than the ingest service needs; the message says what."""


def problems(row: tuple | None) -> list[str]:
    if row is None:
        return ["the connected role is not in pg_roles"]
    role, superuser, bypassrls, owners = row
    found = []
    if superuser:
        found.append(f"role {role} is a superuser")
    if bypassrls:
        found.append(f"role {role} has BYPASSRLS")
    if owners:
        found.append(f"role {role} owns or can act as the owner of the tables ({', '.join(owners)})")
    return found


def _raise(found: list[str]) -> None:
    if found:
        raise PrivilegeError(
            "refusing to start in production: "
            + "; ".join(found)
            + ". Connect the ingest service as trackai_app_rw (TRACKAI_INGEST_DATABASE_URL)."
        )


def check(url: str, settings: Settings) -> None:
    """Blocking form, for ``trackai serve`` before it forks its workers."""
    if settings.env != "production":
        return
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        _raise(problems(conn.execute(ROLE_SQL, (list(SCHEMAS),)).fetchone()))


async def check_async(url: str, settings: Settings) -> None:
    """The same check from the app's startup, whoever launched it."""
    if settings.env != "production":
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as conn:
        cur = await conn.execute(ROLE_SQL, (list(SCHEMAS),))
        _raise(problems(await cur.fetchone()))
