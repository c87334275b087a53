-- One network key for matching (issue 13): the /24 (IPv4) or /64 (IPv6) network of an address, defined once
-- here with the prefix lengths of trackai/core/network.py (its SQL_BODY; tests/matching/test_network_key.py
-- checks that this file holds it and that Postgres and Python agree). The probabilistic stage's index and
-- its candidate query both call the function, so they cannot drift apart.
CREATE FUNCTION core.network_key(ip inet) RETURNS cidr
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 64 END)) $$;

CREATE INDEX clicks_tenant_netkey_time_idx ON landing.clicks (tenant_id, core.network_key(client_ip), occurred_at DESC)
    WHERE client_ip IS NOT NULL;
-- The same key written out inline (0200); nothing queries that expression any more.
DROP INDEX landing.clicks_tenant_network_time_idx;
