"""Tenant isolation in the database, not only in the code.

* A meta-test over the catalog: every relation the console's role can read that has a tenant_id is a table
  with row-level security enabled, FORCED and the console policies, or a security_invoker view whose every
  underlying relation is such a table or view; nothing else is readable; the role owns nothing, is no
  superuser, has no BYPASSRLS; every SECURITY DEFINER function it may call is one reviewed here.
* Every page and action of tenant A tried with tenant B's session and A's ids, over HTTP, and every
  readable relation queried for A's rows with B's tenant set, in SQL: nothing of A comes back or changes.
  The attempts are written to .trackai/console-isolation-attempts.json (docs/console.md lists them).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import psycopg
import pytest
from console_client import Browserish, console_app

from tests.support.world import World
from trackai import db
from trackai.core import pii
from trackai.settings import REPO_ROOT

ROLE = "trackai_console"
ATTEMPTS_FILE = REPO_ROOT / ".trackai" / "console-isolation-attempts.json"
# The SECURITY DEFINER functions the console may call, each reviewed (sql/0601, sql/0602, sql/1400).
REVIEWED_DEFINER_FUNCTIONS = {
    "console.auth_lookup(text)",
    "console.session_open(uuid,text,integer)",
    "console.session_get(text)",
    "console.session_close(text)",
    "console.session_act_as(text,uuid)",
    "console.login_failures(text,integer)",
    "console.login_failed(text,integer)",
    "console.login_succeeded(text)",
    "console.invite_lookup(text)",
    "console.invite_accept(text,text)",
    "console.dispatch_attempts_of(text)",
    "ops.migration_status()",  # sql/1400: versions and checksums only, for the start-up check
}
attempts: list[dict] = []


def record(kind: str, what: str, outcome: str) -> None:
    attempts.append({"kind": kind, "attempt": what, "outcome": outcome})


@pytest.fixture(scope="module", autouse=True)
def _write_attempts():
    yield
    ATTEMPTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ATTEMPTS_FILE.write_text(json.dumps(attempts, indent=2, ensure_ascii=False) + "\n")


def readable_relations(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(
        """SELECT c.oid, c.oid::regclass::text AS name, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                  coalesce(c.reloptions, '{}') AS options,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                          AND NOT a.attisdropped) AS has_tenant
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
              AND (has_table_privilege(%(role)s, c.oid, 'SELECT') OR has_any_column_privilege(%(role)s, c.oid, 'SELECT'))
            ORDER BY 2""",
        {"role": ROLE},
    ).fetchall()


def protected(conn: psycopg.Connection, oid: int, seen: set[int] | None = None) -> list[str]:
    """Why a relation is NOT protected for the console (empty list: it is)."""
    seen = seen or set()
    if oid in seen:
        return []
    seen.add(oid)
    rel = conn.execute(
        """SELECT oid::regclass::text AS name, relkind, relrowsecurity, relforcerowsecurity,
                  coalesce(reloptions, '{}') AS options FROM pg_class WHERE oid = %s""",
        (oid,),
    ).fetchone()
    if rel["relkind"] in ("r", "p"):
        policies = {
            r["polname"]
            for r in conn.execute(
                """SELECT polname FROM pg_policy WHERE polrelid = %s
                     AND (polroles = '{0}' OR %s::regrole = ANY(polroles))""",
                (oid, ROLE),
            )
        }
        problems = []
        if not (rel["relrowsecurity"] and rel["relforcerowsecurity"]):
            problems.append(f"{rel['name']}: row-level security not enabled and forced")
        if not {"console_tenant", "console_operator", "other_roles"} <= policies:
            problems.append(f"{rel['name']}: console policies missing (has {sorted(policies)})")
        return problems
    if rel["relkind"] == "v":
        if "security_invoker=true" not in rel["options"]:
            return [f"{rel['name']}: view without security_invoker (reads with its owner's rights)"]
        problems = []
        for dep in conn.execute(
            """SELECT DISTINCT d.refobjid AS oid FROM pg_rewrite r
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                WHERE r.ev_class = %s AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> %s""",
            (oid, oid),
        ).fetchall():
            problems += protected(conn, dep["oid"], seen)
        return problems
    return [f"{rel['name']}: relkind {rel['relkind']} cannot carry row-level security"]


def test_every_relation_the_console_reads_is_tenant_protected(world: World, conn) -> None:
    with psycopg.connect(world.url, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        relations = readable_relations(c)
        problems = []
        for rel in relations:
            if not rel["has_tenant"]:
                problems.append(f"{rel['name']}: readable by {ROLE} without a tenant_id column")
                continue
            problems += protected(c, rel["oid"])
    names = {r["name"] for r in relations}
    # the check saw what the console reads: the marts and the tables under them
    assert {
        "analytics.console_purchase_journeys",
        "analytics.console_daily_metrics",
        "core.purchases",
    } <= names
    assert problems == []


def test_console_role_is_least_privileged(world: World) -> None:
    with psycopg.connect(world.url, autocommit=True) as c:
        super_, bypass = c.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (ROLE,)
        ).fetchone()
        owned = c.execute("SELECT count(*) FROM pg_class WHERE relowner = %s::regrole", (ROLE,)).fetchone()[0]
        member_of = c.execute(
            """SELECT array_agg(b.rolname) FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
                WHERE m.member = %s::regrole""",
            (ROLE,),
        ).fetchone()[0]
        definers = {
            r[0]
            for r in c.execute(
                """SELECT p.oid::regprocedure::text FROM pg_proc p
                    WHERE p.prosecdef AND has_function_privilege(%s, p.oid, 'EXECUTE')
                      AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)""",
                (ROLE,),
            )
        }
    assert (super_, bypass, owned, member_of) == (False, False, 0, None)
    normalised = {d.replace(", ", ",") for d in definers}
    assert normalised <= REVIEWED_DEFINER_FUNCTIONS, normalised - REVIEWED_DEFINER_FUNCTIONS


def as_console(url: str, tenant: str | None = None, *, operator: bool = False) -> psycopg.Connection:
    conn = psycopg.connect(db.with_user(url, ROLE))
    if tenant is not None:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
    if operator:
        conn.execute("SELECT set_config('app.operator', 'on', true)")
    return conn


def test_sql_with_tenant_b_set_reaches_nothing_of_tenant_a(world: World) -> None:
    a, b = world.a.tenant_id, world.b.tenant_id
    with psycopg.connect(world.url, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        relations = [r["name"] for r in readable_relations(c)]
        a_event = world.a.dlq_event_ids[0]
        a_rows = {
            name: c.execute(f"SELECT count(*) AS n FROM {name} WHERE tenant_id = %s", (a,)).fetchone()["n"]
            for name in relations
        }
    assert a_rows["core.purchases"] > 0 and a_rows["ops.dlq"] > 0
    with as_console(world.url, b) as conn:
        for name in relations:
            seen = conn.execute(f"SELECT count(*) FROM {name} WHERE tenant_id = %s", (a,)).fetchone()[0]
            record(
                "sql",
                f"SELECT … FROM {name} WHERE tenant_id = A (B set)",
                f"{seen} rows (A has {a_rows[name]})",
            )
            assert seen == 0, name
        for statement in (
            "UPDATE ops.dispatch_queue SET status = 'pending' WHERE tenant_id = %s",
            "UPDATE ops.dlq SET replayed_at = now() WHERE tenant_id = %s",
        ):
            changed = conn.execute(statement, (a,)).rowcount
            record("sql", statement.replace("%s", "A") + " (B set)", f"{changed} rows changed")
            assert changed == 0
        attempts_seen = conn.execute(
            "SELECT count(*) FROM console.dispatch_attempts_of(%s)", (a_event,)
        ).fetchone()[0]
        record("sql", "console.dispatch_attempts_of(A's event) (B set)", f"{attempts_seen} rows")
        assert attempts_seen == 0
        conn.rollback()
    with as_console(world.url, b) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO console.audit_log (tenant_id, user_email, action) VALUES (%s, 'x@y.z', 'replay')",
            (a,),
        )
    record(
        "sql", "INSERT console.audit_log row for A (B set)", "refused: new row violates row-level security"
    )
    with as_console(world.url, b) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SET ROLE trackai_migration_admin")
    record("sql", "SET ROLE trackai_migration_admin", "refused: permission denied")
    with as_console(world.url, b) as conn:
        conn.execute("SET row_security = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM core.purchases")
    record("sql", "SET row_security = off; SELECT core.purchases", "refused: query would be affected by RLS")


def test_no_tenant_set_fails_closed_and_operator_bypass_is_read_only(world: World) -> None:
    a = world.a.tenant_id
    with as_console(world.url) as conn:
        seen = conn.execute("SELECT count(*) FROM analytics.console_purchase_journeys").fetchone()[0]
        record("sql", "SELECT console_purchase_journeys with no tenant set", f"{seen} rows")
        assert seen == 0
        conn.rollback()
        # a transaction-local tenant does not outlive its transaction on the same connection
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (a,))
        assert conn.execute("SELECT count(*) FROM core.purchases").fetchone()[0] > 0
        conn.commit()
        after = conn.execute("SELECT count(*) FROM core.purchases").fetchone()[0]
        record("sql", "same connection, next transaction after A's set_config(..., true)", f"{after} rows")
        assert after == 0
        conn.rollback()
    with as_console(world.url, operator=True) as conn:
        tenants_seen = conn.execute("SELECT count(DISTINCT tenant_id) FROM core.purchases").fetchone()[0]
        changed = conn.execute("UPDATE ops.dlq SET replayed_at = now() WHERE tenant_id = %s", (a,)).rowcount
        record(
            "sql",
            "operator bypass (app.operator=on): read every tenant / UPDATE A's DLQ",
            f"reads {tenants_seen} tenants, {changed} rows changed",
        )
        assert tenants_seen == 2 and changed == 0
        conn.rollback()


def test_every_page_and_action_of_a_with_b_session_gets_nothing(world: World) -> None:
    a, b = world.a, world.b
    with psycopg.connect(world.url, autocommit=True, row_factory=psycopg.rows.dict_row) as c:
        a_order = c.execute(
            "SELECT gateway, order_id, email_hash FROM core.purchases WHERE tenant_id = %s AND email_hash IS NOT NULL LIMIT 1",
            (a.tenant_id,),
        ).fetchone()
        a_email = next(p.email for p in a.purchases if pii.hash_email(p.email) == a_order["email_hash"])
        a_dlq_before = c.execute(
            "SELECT count(*) AS n FROM ops.dlq WHERE tenant_id = %s AND replayed_at IS NULL", (a.tenant_id,)
        ).fetchone()["n"]
    secrets_of_a = [a.tenant_id, a.pixel_id, a.name, a_order["order_id"], *a.dlq_event_ids]
    app = console_app(world.url)
    with Browserish(app) as seller_a:
        seller_a.login(a.email)
        replay = seller_a.post("/failures/replay", {"one": a.dlq_event_ids[0]})
        a_audit = replay.headers["location"].rsplit("/", 1)[-1]
        a_csrf = seller_a.csrf
    with Browserish(app) as seller_b:
        assert seller_b.login(b.email).status_code == 303

        def leaks(text: str, typed: str = "") -> list[str]:
            """A's identifiers on the page, except what B itself typed into this request."""
            return [s for s in secrets_of_a if s and s in text and s not in typed]

        for path in (
            f"/purchases/{a_order['gateway']}/{quote(a_order['order_id'])}",
            f"/failures/replays/{a_audit}",
            f"/failures/replays/{a_audit}/live",
        ):
            response = seller_b.get(path)
            record(
                "http",
                f"GET {path.replace(a_order['order_id'], '<A order>').replace(a_audit, '<A replay>')}",
                f"HTTP {response.status_code}",
            )
            assert response.status_code == 404 and not leaks(response.text, typed=path)
        for path in (
            f"/purchases?order={quote(a_order['order_id'])}",
            f"/purchases?email={a_order['email_hash']}",
            "/",
            "/?window=30",
            "/overview/live?window=30",
            "/purchases",
            "/failures",
            "/failures/live",
            "/quality",
            "/setup",
        ):
            response = seller_b.get(path)
            label = path.replace(quote(a_order["order_id"]), "<A order>").replace(
                a_order["email_hash"], "<A buyer hash>"
            )
            record(
                "http",
                f"GET {label}",
                f"HTTP {response.status_code}, A's ids in page: {len(leaks(response.text, path))}",
            )
            assert response.status_code == 200 and not leaks(response.text, typed=path), (
                path,
                leaks(response.text, path),
            )
            if "order=" in path or "email=" in path:
                assert "Nenhuma compra encontrada" in response.text
        found = seller_b.post("/purchases/search", {"q": a_email})
        listing = seller_b.get(found.headers["location"])
        record(
            "http",
            "POST /purchases/search q=<A buyer e-mail>",
            f"no purchase listed; A's ids in page: {len(leaks(listing.text))}",
        )
        assert not leaks(listing.text) and "Nenhuma compra encontrada" in listing.text
        for data in ({"one": a.dlq_event_ids[1]}, {"event_ids": a.dlq_event_ids}, {"since": "2000-01-01"}):
            response = seller_b.post("/failures/replay", data)
            outcome = seller_b.get(response.headers["location"])
            label = (
                "since=2000-01-01"
                if "since" in data
                else ("one=<A DLQ event>" if "one" in data else "event_ids=<A's DLQ events>")
            )
            open_now = open_dlq(world.url, a.tenant_id)
            record(
                "http",
                f"POST /failures/replay {label}",
                f"HTTP {response.status_code}; A's open DLQ {open_now} (was {a_dlq_before - 1}); A's ids in outcome page: {len(leaks(outcome.text))}",
            )
            assert open_now == a_dlq_before - 1 and not leaks(outcome.text)
        for path, data in (("/operator/act-as", {"tenant_id": a.tenant_id}),):
            response = seller_b.post(path, data)
            record("http", "POST /operator/act-as tenant_id=A (as a seller)", f"HTTP {response.status_code}")
            assert response.status_code == 404
        response = seller_b.get("/operator/tenants")
        record("http", "GET /operator/tenants (as a seller)", f"HTTP {response.status_code}")
        assert response.status_code == 404
        response = seller_b.client.post(
            "/failures/replay", data={"csrf_token": a_csrf, "one": a.dlq_event_ids[1]}
        )
        record(
            "http", "POST /failures/replay with A's CSRF token on B's session", f"HTTP {response.status_code}"
        )
        assert response.status_code == 403
    # A replayed one of its own two; B's three replay attempts changed nothing of A's
    assert open_dlq(world.url, a.tenant_id) == a_dlq_before - 1


def open_dlq(url: str, tenant_id: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute(
            "SELECT count(*) FROM ops.dlq WHERE tenant_id = %s AND replayed_at IS NULL", (tenant_id,)
        ).fetchone()[0]
