"""One network key (issue 13): Python's ``trackai.core.network`` and Postgres' ``core.network_key`` agree,
the migration holds the Python definition, and the candidate query can use the index built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.support.rows import land_click
from trackai.core import network
from trackai.pipeline.candidates import lateral_clicks
from trackai.settings import REPO_ROOT

SAMPLES = [
    "203.0.113.77",
    "203.0.113.0",
    "203.0.113.255",
    "203.0.114.0",
    "0.0.0.0",
    "255.255.255.255",
    "10.1.2.3/8",  # a mask in the input is ignored
    "2001:db8:1:2:3:4:5:6",
    "2001:db8:1:2:ffff:ffff:ffff:ffff",
    "2001:db8:1:3::",
    "::1",
    "::",
    "::ffff:192.0.2.1",  # IPv4-mapped: an IPv6 address, so /64
    "fe80::1",
    "2804:14c:65a1:4d3e:1111:2222:3333:4444",
]


def test_python_network_key():
    assert network.network_key("203.0.113.77") == "203.0.113.0/24"
    assert network.network_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network.network_key("203.0.113.255") != network.network_key("203.0.114.0")
    for nonsense in (None, "", "nonsense", "300.1.1.1"):
        assert network.network_key(nonsense) is None


def test_migration_holds_the_python_definition():
    migration = (REPO_ROOT / "sql" / "0511_network_key.sql").read_text()
    assert network.SQL_BODY in migration
    assert f"THEN {network.IPV4_PREFIX} ELSE {network.IPV6_PREFIX}" in network.SQL_BODY


@pytest.mark.integration
def test_postgres_and_python_agree(conn):
    for ip in SAMPLES:
        got = conn.execute(f"SELECT {network.sql_key('%s::inet')}::text", (ip,)).fetchone()[0]
        assert got == network.network_key(ip), ip


@pytest.mark.integration
def test_probabilistic_lookup_uses_the_network_key_index(conn):
    tenant = conn.execute(
        "INSERT INTO core.tenants (name, pixel_id) VALUES ('net', '12345') RETURNING tenant_id::text"
    ).fetchone()[0]
    now = datetime.now(UTC)
    for i in range(3):
        land_click(
            conn,
            tenant,
            session_id=f"net-{i}",
            occurred_at=now - timedelta(minutes=i),
            client_ip=f"198.51.100.{i}",
        )
    conn.execute("ANALYZE landing.clicks")
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            f"EXPLAIN SELECT 1 FROM landing.clicks c WHERE c.tenant_id = %s "
            f"AND {network.sql_key('c.client_ip')} = '198.51.100.0/24'::cidr",
            (tenant,),
        ).fetchall()
    )
    conn.execute("RESET enable_seqscan")
    assert "clicks_tenant_netkey_time_idx" in plan
    keys = pl.DataFrame(
        {"tenant_id": [tenant], "key": ["198.51.100.0/24"], "lo": [now - timedelta(hours=1)], "hi": [now]}
    )
    found = lateral_clicks(conn, [("client_net", keys)])
    assert found.height == 3 and set(found["client_net"]) == {"198.51.100.0/24"}
