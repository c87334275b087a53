"""How long a data-subject request takes on a tenant with many rows (not collected by pytest; run by hand):

    .venv/bin/python -m tests.privacy.scale_request postgresql://postgres@127.0.0.1:5432/postgres [clicks]

Creates a throwaway database, migrates it, lands ``clicks`` clicks (half with a lead identity), clicks/2
conversions and purchases for one tenant plus one buyer's few rows, then times export and delete through
``trackai.privacy.requests.serve`` (no archive: S3 unset) and prints JSON. The database is dropped after.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time

import psycopg

from trackai import db, migrations, tenants
from trackai.core import pii
from trackai.privacy import requests
from trackai.settings import REPO_ROOT, Settings

BUYER = "scale.buyer@example.com"


def main(server_url: str, clicks: int = 200_000) -> dict:
    name = f"trackai_privacy_scale_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = db.with_database(server_url, name)
    try:
        migrations.upgrade(url, REPO_ROOT / "sql")
        with psycopg.connect(url, autocommit=True) as conn:
            tenant, _ = tenants.create_tenant_with_every_gateway(conn, "scale", pixel_id="7770007770")
            started = time.perf_counter()
            conn.execute(
                """INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, client_ip, user_agent, email_hash, fbc)
                   SELECT %s, 'tai_s' || g, now() - (g %% 86000) * interval '1 second',
                          ('10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.9')::inet, 'Mozilla/5.0 bench',
                          CASE WHEN g %% 2 = 0 THEN md5(g::text) || md5('e' || g) END, 'fb.1.1700000000000.f' || g
                     FROM generate_series(1, %s) g""",
                (tenant, clicks),
            )
            conn.execute(
                """INSERT INTO landing.identities (tenant_id, session_id, email_hash, seen_at)
                   SELECT %s, 'tai_s' || g, md5(g::text) || md5('e' || g), now() FROM generate_series(2, %s, 2) g""",
                (tenant, clicks),
            )
            conn.execute(
                """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, payload_redacted, payload_sha256)
                   SELECT %s, 'kiwify', 'o' || g || ':order_approved', '{}'::jsonb, md5(g::text)
                     FROM generate_series(1, %s) g""",
                (tenant, clicks // 2),
            )
            conn.execute(
                """INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, order_id, status, event_time,
                                                    session_id, email_hash)
                   SELECT w.webhook_event_id, %s, 'kiwify', split_part(w.delivery_key, ':', 1), 'approved', now(),
                          'tai_s' || substr(split_part(w.delivery_key, ':', 1), 2), md5(substr(split_part(w.delivery_key, ':', 1), 2)) || md5('e' || substr(split_part(w.delivery_key, ':', 1), 2))
                     FROM landing.webhook_events w WHERE w.tenant_id = %s""",
                (tenant, tenant),
            )
            conn.execute(
                """INSERT INTO core.purchases (tenant_id, gateway, order_id, event_id, status, approved_at, partition_date,
                                               session_id, email_hash, first_conversion_id, last_conversion_id)
                   SELECT tenant_id, gateway, order_id, encode(sha256(order_id::bytea), 'hex'), 'approved', event_time,
                          event_time::date, session_id, email_hash, conversion_id, conversion_id
                     FROM landing.conversions WHERE tenant_id = %s""",
                (tenant,),
            )
            conn.execute(
                """INSERT INTO core.dedupe_registry (event_id, tenant_id, gateway, order_id, event_name)
                   SELECT event_id, tenant_id, gateway, order_id, 'Purchase' FROM core.purchases WHERE tenant_id = %s""",
                (tenant,),
            )
            # the buyer: one session with a click and a lead, one order
            h = pii.hash_email(BUYER)
            conn.execute(
                """INSERT INTO landing.clicks (tenant_id, session_id, email_hash, client_ip)
                   VALUES (%s, 'tai_buyer', %s, '198.51.100.99'), (%s, 'tai_buyer', NULL, '198.51.100.99')""",
                (tenant, h, tenant),
            )
            conn.execute(
                "INSERT INTO landing.identities (tenant_id, session_id, email_hash) VALUES (%s, 'tai_buyer', %s)",
                (tenant, h),
            )
            wid = conn.execute(
                """INSERT INTO landing.webhook_events (tenant_id, gateway, delivery_key, payload_redacted, payload_sha256)
                   VALUES (%s, 'kiwify', 'buyer-order:order_approved', '{"x": 1}', 'x') RETURNING webhook_event_id""",
                (tenant,),
            ).fetchone()[0]
            conn.execute(
                """INSERT INTO landing.conversions (webhook_event_id, tenant_id, gateway, order_id, status, event_time,
                                                    session_id, email_hash)
                   VALUES (%s, %s, 'kiwify', 'buyer-order', 'approved', now(), 'tai_buyer', %s)""",
                (wid, tenant, h),
            )
            conn.execute("ANALYZE")
            loaded = round(time.perf_counter() - started, 1)
            settings = Settings(lifecycle={"s3_bucket": ""})
            with tempfile.TemporaryDirectory() as tmp:
                exported = requests.serve(
                    conn, tenant, action="export", actor="scale", email=BUYER, out_dir=tmp, settings=settings
                )
            erased = requests.serve(
                conn, tenant, action="delete", actor="scale", email=BUYER, settings=settings
            )
            sizes = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("landing.clicks", "landing.identities", "landing.conversions", "core.purchases")
            }
        return {
            "rows": sizes,
            "load_s": loaded,
            "export": {
                "counts": {k: v for k, v in exported.counts.items() if v},
                "timings_s": exported.timings_s,
            },
            "delete": {
                "counts": {k: v for k, v in erased.counts.items() if v},
                "timings_s": erased.timings_s,
            },
        }
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000), indent=2))
