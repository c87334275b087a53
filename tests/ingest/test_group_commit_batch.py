"""The batch statements of group commit (issue 21): a whole batch lands with one statement per table and
one transaction, and every row still gets its own answer as if it had been landed alone: the tenant's
budget spent in arrival order, ``duplicate`` within and across batches, its click's identity row, a
refusal of its own (neighbours land), a value only the standard JSON encoder can write."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from ingest_service.core.store import RowRefused, Store, row_json
from trackai import db
from trackai.core.gateways import Conversion, Mapped
from trackai.core.pii import sha256_hex
from trackai.settings import get_settings

BIG = 1_000_000


def _click(tenant: str, session: str, **extra) -> dict:
    return {
        "tenant": tenant,
        "event_type": "click",
        "session_id": session,
        "occurred_at": datetime.now(UTC),
        "landing_url": "https://shop.example/p",
        "client_ip": "203.0.113.7",
        "user_agent": "test",
        "utm": {"utm_source": "facebook"},
        **extra,
    }


def _mapped(key: str, *, amount: Decimal = Decimal("97.00"), order: str | None = None) -> Mapped:
    conversion = Conversion(
        gateway="stripe",
        order_id=order or key,
        status="approved",
        gateway_status="paid",
        event_time=datetime.now(UTC),
        amount=amount,
        currency="BRL",
        email_hash=sha256_hex(f"{key}@example.com"),
    )
    return Mapped(key, "checkout.session.completed", conversion, {"id": key, "n": 1})


async def _with_store(url: str, coro, **overrides):
    store = Store(db.with_user(url, "trackai_app_rw"), get_settings().model_copy(update=overrides))
    await store.open()
    try:
        return await coro(store)
    finally:
        await store.close()


def _run(pg_url: str, coro, **overrides):
    return asyncio.run(_with_store(pg_url, coro, **overrides))


def test_a_batch_is_one_transaction_and_each_click_gets_its_own_id_and_identity(pg_url, conn, make_tenant):
    tenant, _ = make_tenant()
    sessions = [f"tai_batch{uuid.uuid4().hex[:10]}{i:03d}" for i in range(30)]

    async def scenario(store: Store):
        return await asyncio.gather(
            *(
                store.land_click(_click(tenant, s, email_hash=sha256_hex(s) if i % 3 == 0 else None), BIG)
                for i, s in enumerate(sessions)
            )
        )

    results = _run(pg_url, scenario, group_commit_max_batches=1)
    ids = [click_id for _, click_id in results]
    assert all(ids) and len(set(ids)) == len(ids)
    rows = dict(
        conn.execute(
            "SELECT click_id, session_id FROM landing.clicks WHERE session_id = ANY(%s)", (sessions,)
        ).fetchall()
    )
    assert [rows[i] for i in ids] == sessions  # each request's id is its own row
    identities = conn.execute(
        "SELECT i.session_id, c.session_id, i.email_hash FROM landing.identities i"
        " JOIN landing.clicks c ON c.click_id = i.click_id WHERE i.session_id = ANY(%s)",
        (sessions,),
    ).fetchall()
    assert sorted(i[0] for i in identities) == sorted(sessions[::3])
    assert all(a == b and h == sha256_hex(a) for a, b, h in identities)
    transactions = conn.execute(
        "SELECT count(DISTINCT xmin::text) FROM landing.clicks WHERE session_id = ANY(%s)", (sessions,)
    ).fetchone()[0]
    assert transactions <= 3  # 30 requests in flight: one statement per batch, not one per row


def test_the_tenant_budget_admits_the_first_rows_in_arrival_order(pg_url, conn, make_tenant):
    t1, _ = make_tenant()
    t2, _ = make_tenant("Other Seller")

    async def scenario(store: Store):
        calls = [
            store.land_click(_click(t1 if i % 2 == 0 else t2, f"tai_rl{uuid.uuid4().hex[:12]}"), 4)
            for i in range(14)
        ]
        return await asyncio.gather(*calls)

    results = _run(pg_url, scenario, group_commit_max_batches=1)
    for tenant_results in (results[0::2], results[1::2]):
        assert [limited for limited, _ in tenant_results] == [False] * 4 + [True] * 3
        assert all((cid is None) == limited for limited, cid in tenant_results)
    landed = conn.execute(
        "SELECT tenant_id::text, count(*) FROM landing.clicks WHERE tenant_id = ANY(%s::uuid[]) GROUP BY 1",
        ([t1, t2],),
    ).fetchall()
    assert dict(landed) == {t1: 4, t2: 4}


def test_duplicates_within_and_across_batches_land_once_with_one_conversion(pg_url, conn, make_tenant):
    tenant, _ = make_tenant()
    key = f"evt_{uuid.uuid4().hex}"
    others = [f"evt_{uuid.uuid4().hex}" for _ in range(5)]

    async def scenario(store: Store):
        first = await asyncio.gather(
            *(
                store.land_webhook(uuid.UUID(tenant), "stripe", _mapped(k), b"{}", BIG)
                for k in [key, *others, key, key]
            )
        )
        again = await asyncio.gather(
            *(
                store.land_webhook(uuid.UUID(tenant), "stripe", _mapped(k), b"{}", BIG)
                for k in (key, others[0])
            )
        )
        return first, again

    first, again = _run(pg_url, scenario, group_commit_max_batches=1)
    assert [r.duplicate for r in first] == [False] * 6 + [True, True]
    assert all(r.webhook_event_id for r in first[:6]) and len({r.webhook_event_id for r in first[:6]}) == 6
    assert [r.duplicate for r in again] == [True, True]
    counts = conn.execute(
        "SELECT count(*), count(DISTINCT c.conversion_id) FROM landing.webhook_events e"
        " JOIN landing.conversions c USING (webhook_event_id) WHERE e.delivery_key = ANY(%s)",
        ([key, *others],),
    ).fetchone()
    assert counts == (6, 6)
    amount, email_hash = conn.execute(
        "SELECT amount, email_hash FROM landing.conversions WHERE order_id = %s", (key,)
    ).fetchone()
    assert amount == Decimal("97.0000") and email_hash == sha256_hex(f"{key}@example.com")


def test_a_refused_webhook_fails_alone_and_its_neighbours_land(pg_url, conn, make_tenant):
    tenant, _ = make_tenant()
    keys = [f"evt_{uuid.uuid4().hex}" for _ in range(8)]

    async def scenario(store: Store):
        mapped = [_mapped(k) for k in keys]
        mapped[3] = _mapped(keys[3], amount=Decimal("1e20"))  # numeric(18,4) overflows
        return await asyncio.gather(
            *(store.land_webhook(uuid.UUID(tenant), "stripe", m, b"{}", BIG) for m in mapped),
            return_exceptions=True,
        )

    results = _run(pg_url, scenario, group_commit_max_batches=1)
    assert isinstance(results[3], RowRefused) and "overflow" in str(results[3])
    assert all(
        not isinstance(r, BaseException) and r.webhook_event_id for i, r in enumerate(results) if i != 3
    )
    landed = conn.execute(
        "SELECT count(*) FROM landing.webhook_events WHERE delivery_key = ANY(%s)", (keys,)
    ).fetchone()[0]
    assert landed == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [("landing_url", "https://shop.example/\x00"), ("referrer", "https://x.example/\ud800")],
)
def test_a_click_with_a_value_postgres_or_json_refuses_fails_alone(pg_url, conn, make_tenant, field, value):
    tenant, _ = make_tenant()
    sessions = [f"tai_bad{uuid.uuid4().hex[:12]}{i}" for i in range(6)]

    async def scenario(store: Store):
        params = [_click(tenant, s) for s in sessions]
        params[2][field] = value
        return await asyncio.gather(*(store.land_click(p, BIG) for p in params), return_exceptions=True)

    results = _run(pg_url, scenario, group_commit_max_batches=1)
    assert isinstance(results[2], RowRefused)
    assert all(not isinstance(r, BaseException) and r[1] for i, r in enumerate(results) if i != 2)
    assert (
        conn.execute(
            "SELECT count(*) FROM landing.clicks WHERE session_id = ANY(%s)", (sessions,)
        ).fetchone()[0]
        == 5
    )


def test_a_payload_only_the_standard_encoder_writes_still_lands(pg_url, conn, make_tenant):
    """orjson refuses integers past 64 bits; the row falls back to the standard encoder and lands as before."""
    tenant, _ = make_tenant()
    key = f"evt_{uuid.uuid4().hex}"
    big = 12345678901234567890123456789
    mapped = Mapped(key, "x", None, {"id": key, "big": big})
    assert b"12345678901234567890123456789" in row_json({"payload": mapped.payload_redacted})

    async def scenario(store: Store):
        return await store.land_webhook(uuid.UUID(tenant), "stripe", mapped, b"{}", BIG)

    result = _run(pg_url, scenario)
    assert result.webhook_event_id and not result.duplicate
    stored = conn.execute(
        "SELECT payload_redacted->'big' FROM landing.webhook_events WHERE delivery_key = %s", (key,)
    ).fetchone()[0]
    assert stored == big


def test_the_click_statement_draws_ids_from_the_tables_own_sequence(pg_url) -> None:
    """Ids drawn before the insert must come from the identity's sequence, or a later plain insert would
    collide with them."""
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT pg_get_serial_sequence('landing.clicks', 'click_id')").fetchone()[0]
