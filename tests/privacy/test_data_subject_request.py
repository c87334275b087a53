"""Issue 23, done-when: a request for a demo buyer exports, then deletes, everything tied to them.

The buyer's traffic goes through the real ingest app (role trackai_app_rw): a landing click with an fbclid,
a lead with email and phone, a signed Kiwify purchase carrying the session, and a Stripe delivery that
cannot be mapped (quarantined, encrypted) naming the buyer's email. An older day of clicks and lead
identities is archived to Parquet on a local S3 (moto) and dropped from Postgres. The micro-batch matches
and dispatch sends to the Graph API fake. Another buyer's data sits beside it all the way.

Then ``trackai.privacy.requests.serve`` exports (report with recipients: the pixel and the date sent; the
Meta statement) and deletes. Afterwards every column of every table (cast to text), every archived Parquet
object and every log record of the module are scanned for the buyer's plaintext email and phone, their
hashes, session id, fbclid, fbc, IP address and user agent: none may remain. The order id and event_id may
remain only in the ledger columns the policy keeps (docs/privacy.md). The other buyer's rows are still
there (the scanner sees data), billing's success count is unchanged, a webhook redelivery stays a
duplicate and a new micro-batch + dispatch sends nothing for the erased buyer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from tests.support import scan as support_scan
from trackai import db, tenants
from trackai.core import pii
from trackai.core.session_id import new_session_id
from trackai.settings import Settings, get_settings
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

pytestmark = pytest.mark.integration

OLD = date(2025, 3, 10)
A_EMAIL, A_PHONE = "Maria.Demo.Buyer@Example.com", "(11) 98765-4321"
A_IP, B_IP = "198.51.100.77", "192.0.2.55"
A_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 DemoBuyerA/7.1"
B_UA = (
    "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15 OtherB/2"
)
A_FBCLID = "IwAR0demoBuyerAfbclid" + "x" * 20
B_EMAIL, B_PHONE = "joao.other@example.com", "(21) 99888-7766"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.dumps({k: str(v) for k, v in record.__dict__.items()}, default=str))


def _client(pg_url: str, address: str, ua: str) -> TestClient:
    app = create_app(Settings(metrics_port=0), database_url=db.with_user(pg_url, "trackai_app_rw"))
    return TestClient(app, client=(address, 50000), headers={"user-agent": ua})


def _webhook(client: TestClient, gateway: str, tenant: str, secret: str, payload: dict):
    headers, query, body = sign_request(gateway, secret, json.dumps(payload).encode())
    return client.post(f"/api/v1/webhooks/{gateway}/{tenant}", content=body, headers=headers, params=query)


def _old_rows(conn: psycopg.Connection, tenant: str, sid_a: str, sid_b: str) -> None:
    """A day long past the hot window: the buyer's and the other buyer's clicks and identities."""
    at = datetime.combine(OLD, datetime.min.time(), UTC) + timedelta(hours=14)
    for sid, email, phone, ip, ua in (
        (sid_a, A_EMAIL, A_PHONE, A_IP, A_UA),
        (sid_b, B_EMAIL, B_PHONE, B_IP, B_UA),
    ):
        conn.execute(
            """INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, landing_url, client_ip, user_agent,
                                           email_hash, phone_hash)
               VALUES (%s, %s, %s, 'https://shop.example/old', %s, %s, %s, %s)""",
            (tenant, sid, at, ip, ua, pii.hash_email(email), pii.hash_phone(phone)),
        )
        conn.execute(
            """INSERT INTO landing.identities (tenant_id, session_id, email_hash, phone_hash, seen_at)
               VALUES (%s, %s, %s, %s, %s)""",
            (tenant, sid, pii.hash_email(email), pii.hash_phone(phone), at),
        )
        # a second archived click of the same session without any hash: found through the session
        conn.execute(
            """INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, landing_url, client_ip, user_agent)
               VALUES (%s, %s, %s, 'https://shop.example/old2', %s, %s)""",
            (tenant, sid, at + timedelta(minutes=3), ip, ua),
        )


@pytest.fixture(scope="module")
def world(pg_url: str, s3: str):
    from trackai.dispatch import DispatchOptions, run_dispatch
    from trackai.lifecycle import archive, partitions
    from trackai.pipeline.batch import run_batch
    from trackai_cli.capi_mock import MockConfig, MockServer

    logs = Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.INFO)
    logging.getLogger("trackai").setLevel(logging.DEBUG)
    fake = MockServer(MockConfig(seed=23)).__enter__()
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            tenant, gw = tenants.create_tenant_with_every_gateway(
                conn, "LGPD demo seller", pixel_id="2300230023"
            )
            sid_a, sid_b = new_session_id(), new_session_id()
            _old_rows(conn, tenant, sid_a, sid_b)
            partitions.ensure_ahead(conn, 7)
        report = archive.retain(pg_url, today=OLD + timedelta(days=31))
        assert not report.failed, report.failed
        assert any(d.dropped and d.parent == "landing.clicks" for d in report.days)
        with psycopg.connect(pg_url, autocommit=True) as conn:  # past the hot window: only in the archive
            assert (
                conn.execute(
                    "SELECT count(*) FROM landing.clicks WHERE occurred_at < %s", (OLD + timedelta(days=1),)
                ).fetchone()[0]
                == 0
            )

        order_a, order_b = str(uuid.uuid4()), f"pi_{uuid.uuid4().hex[:20]}"
        with _client(pg_url, A_IP, A_UA) as ca, _client(pg_url, B_IP, B_UA) as cb:
            click = ca.post(
                "/api/v1/track/click",
                json={
                    "tenant_id": tenant,
                    "session_id": sid_a,
                    "url": f"https://shop.example/lp?fbclid={A_FBCLID}&utm_source=fb",
                },
            )
            assert click.status_code == 202, click.text
            fbc_a = click.json()["fbc"]
            lead = ca.post(
                "/api/v1/track/click",
                json={
                    "tenant_id": tenant,
                    "session_id": sid_a,
                    "event_type": "lead",
                    "url": "https://shop.example/lp",
                    "email": A_EMAIL,
                    "phone": A_PHONE,
                },
            )
            assert lead.status_code == 202, lead.text
            assert (
                cb.post(
                    "/api/v1/track/click",
                    json={
                        "tenant_id": tenant,
                        "session_id": sid_b,
                        "url": "https://shop.example/lp?fbclid=IwARotherB123",
                    },
                ).status_code
                == 202
            )
            bought = _webhook(
                ca,
                "kiwify",
                tenant,
                gw["kiwify"],
                build_payload(
                    "kiwify", order_id=order_a, email=A_EMAIL, phone=A_PHONE, session_id=sid_a, client_ip=A_IP
                ),
            )
            assert bought.status_code == 200, bought.text
            payload_b = build_payload(
                "stripe", order_id=order_b, email=B_EMAIL, phone=B_PHONE, session_id=sid_b
            )
            assert _webhook(cb, "stripe", tenant, gw["stripe"], payload_b).status_code == 200
            unmappable = {
                "id": f"evt_{uuid.uuid4().hex[:16]}",
                "type": "checkout.session.completed",
                "livemode": True,
                "created": int(datetime.now(UTC).timestamp()),
                "data": {"object": "broken", "customer_email": A_EMAIL, "phone": A_PHONE},
            }
            quarantined = _webhook(ca, "stripe", tenant, gw["stripe"], unmappable)
            assert quarantined.json() == {"status": "quarantined"}, quarantined.text
            redelivery = build_payload(
                "kiwify", order_id=order_a, email=A_EMAIL, phone=A_PHONE, session_id=sid_a, client_ip=A_IP
            )

        run_batch(pg_url, mode="incremental")
        settings = Settings(meta_graph_url=fake.url, capi={"timeout_seconds": 0.5})
        with psycopg.connect(pg_url, autocommit=True) as conn:
            summary = run_dispatch(conn, settings, sleep=lambda s: None, options=DispatchOptions())
        assert summary.get("sent", 0) == 2, summary
        yield {
            "tenant": tenant,
            "gw": gw,
            "sid_a": sid_a,
            "sid_b": sid_b,
            "fbc_a": fbc_a,
            "order_a": order_a,
            "order_b": order_b,
            "fake": fake,
            "logs": logs,
            "redelivery": redelivery,
            "settings": settings,
        }
    finally:
        fake.__exit__(None, None, None)
        root.removeHandler(logs)
        root.setLevel(old_level)


def _needles(w: dict) -> dict[str, str]:
    digits = re.sub(r"\D", "", A_PHONE)
    return {
        A_EMAIL.lower(): "email",
        "maria.demo.buyer": "email local part",
        pii.hash_email(A_EMAIL): "email sha256",
        pii.hash_phone(A_PHONE): "phone sha256",
        "55" + digits: "phone e164",
        digits: "phone national",
        w["sid_a"].lower(): "session id",
        A_FBCLID.lower(): "fbclid",
        w["fbc_a"].lower(): "fbc",
        A_IP: "ip",
        "demobuyera/7.1": "user agent",
    }


def scan_database(url: str, needles: dict[str, str]) -> list[tuple[str, str]]:
    """Every column of every base table (all schemas but the system ones, every type as text), lowercased."""
    scan = support_scan.scan_database(url, needles, all_types=True)
    assert scan.tables > 20
    return scan.hits


def scan_archive(needles: dict[str, str]) -> tuple[list[tuple[str, str]], int]:
    from trackai.lifecycle import duck
    from trackai.lifecycle.store import ObjectStore

    pattern = support_scan.pattern_of(needles)
    store = ObjectStore.from_settings("archive")
    con = duck.connect(get_settings())
    hits, rows = [], 0
    try:
        for obj in store.list(""):
            cur = con.execute(
                f"SELECT * FROM read_parquet('{store.url(obj['key'])}', hive_partitioning = false)"
            )
            names = [d[0] for d in cur.description]
            for row in cur.fetchall():
                rows += 1
                for name, value in zip(names, row, strict=True):
                    for m in pattern.finditer(str(value).lower()):
                        hits.append((f"{obj['key']}:{name}", needles[m.group()]))
    finally:
        con.close()
    return hits, rows


def test_export_then_delete_leaves_nothing_of_the_buyer(world, pg_url, tmp_path: Path) -> None:
    from trackai.dispatch import DispatchOptions, run_dispatch
    from trackai.pipeline.batch import run_batch
    from trackai.privacy import requests

    w = world
    tenant = w["tenant"]
    needles = _needles(w)
    event_ids_sent = {e["event_id"] for e in w["fake"].events}
    assert len(event_ids_sent) == 2
    before_db = scan_database(pg_url, needles)
    assert {label for _, label in before_db} >= {"email sha256", "session id", "fbc", "ip", "user agent"}
    before_archive, _ = scan_archive(needles)
    assert before_archive, "the buyer's archived rows are there before the request"

    with psycopg.connect(pg_url, autocommit=True) as conn:
        successes = conn.execute(
            "SELECT count(DISTINCT event_id) FROM ops.dispatch_attempts WHERE tenant_id = %s AND status = 'success'",
            (tenant,),
        ).fetchone()[0]
        exported = requests.serve(
            conn, tenant, action="export", actor="test:operator", email=A_EMAIL, out_dir=tmp_path / "reports"
        )
        report = exported.report
        assert exported.state == "exported"
        assert report["counts"]["landing.clicks"] == 2 and report["counts"]["landing.identities"] >= 1
        assert report["counts"]["archive:landing.clicks"] == 2
        assert report["counts"]["archive:landing.identities"] == 1
        assert report["counts"]["core.purchases"] == 1 and report["counts"]["core.matches"] == 1
        assert report["counts"]["landing.webhook_quarantine"] == 1
        assert report["data"]["core.matches"][0]["stage"] == "deterministic"
        (recipient,) = report["recipients"]
        assert (
            recipient["pixel_id"] == "2300230023"
            and recipient["sent_at"][:10] == datetime.now(UTC).date().isoformat()
        )
        assert "no way to delete events already sent" in report["meta_deletion"]["en"]
        text = Path(exported.report_path).read_text()
        assert "Meta" in text and "2300230023" in text and "não oferece meio de apagar" in text
        assert stat.S_IMODE(os.stat(exported.report_path).st_mode) == 0o600
        assert w["order_b"] not in json.dumps(report, default=str)  # the other buyer is not in the report

        erased = requests.serve(conn, tenant, action="delete", actor="test:operator", email=A_EMAIL)
        assert erased.request_id == exported.request_id and erased.state == "erased"
        assert erased.counts["archive:landing.clicks"] == 2 and erased.counts["landing.clicks"] == 2
        log_row = conn.execute(
            "SELECT state, deadline_at - received_at, exported_by, erased_by, summary FROM privacy.requests "
            "WHERE request_id = %s",
            (exported.request_id,),
        ).fetchone()
        assert log_row[:4] == ("erased", timedelta(days=15), "test:operator", "test:operator")
        actions = [e["action"] for e in requests.events_of(conn, exported.request_id)]
        assert actions == ["opened", "exported", "erased"]
        print(
            "\nprivacy request timings (s): export",
            json.dumps(exported.timings_s),
            "delete",
            json.dumps(erased.timings_s),
        )

        # The ledger is intact: tombstone, queue row (no payload), attempts (billing counts).
        assert (
            conn.execute(
                "SELECT count(*) FROM core.dedupe_registry WHERE tenant_id = %s AND order_id = %s",
                (tenant, w["order_a"]),
            ).fetchone()[0]
            == 1
        )
        assert (
            conn.execute(
                "SELECT count(DISTINCT event_id) FROM ops.dispatch_attempts WHERE tenant_id = %s AND status = 'success'",
                (tenant,),
            ).fetchone()[0]
            == successes
        )

    # Nothing of the buyer anywhere: every table, the archive, the logs.
    allowed = {"core.dedupe_registry.order_id", "landing.webhook_events.delivery_key"}
    after_db = scan_database(pg_url, needles)
    assert after_db == [], after_db
    order_hits = scan_database(pg_url, {w["order_a"].lower(): "order id"})
    assert {where for where, _ in order_hits} <= allowed, order_hits
    after_archive, archived_rows = scan_archive(needles)
    assert after_archive == [] and archived_rows >= 2  # the other buyer's archived rows are still there
    assert scan_database(pg_url, {pii.hash_email(B_EMAIL): "other buyer"}), "the scanner sees the other buyer"
    other_archive, _ = scan_archive({pii.hash_email(B_EMAIL): "other buyer"})
    assert other_archive
    pattern = support_scan.pattern_of(needles)
    log_hits = [
        (i, needles[m.group()])
        for i, line in enumerate(w["logs"].lines)
        for m in pattern.finditer(line.lower())
    ]
    assert w["logs"].lines and log_hits == [], log_hits

    # A gateway redelivery is still a duplicate; a new micro-batch and dispatch send nothing for the buyer.
    with _client(pg_url, A_IP, A_UA) as ca:
        again = _webhook(ca, "kiwify", tenant, w["gw"]["kiwify"], w["redelivery"])
        assert again.status_code == 200 and again.json().get("status") == "duplicate", again.text
    run_batch(pg_url, mode="incremental")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        summary = run_dispatch(conn, w["settings"], sleep=lambda s: None, options=DispatchOptions())
    assert summary.get("sent", 0) == 0 and len(w["fake"].events) == 2
    assert scan_database(pg_url, needles) == []


def test_archive_reads_days_archived_before_the_flag_columns_existed(world, tmp_path: Path) -> None:
    """A day archived before sql/1300 has no bot_reason/consent_denied: `trackai archive query` still reads
    every day (the missing columns are NULL), so the archive stays queryable across the migration."""
    from trackai.lifecycle import archive, duck
    from trackai.lifecycle.store import ObjectStore

    store = ObjectStore.from_settings("archive")
    con = duck.connect(get_settings())
    try:
        local = tmp_path / "old.parquet"
        con.execute(
            "COPY (SELECT 999999::BIGINT AS click_id, '" + world["tenant"] + "'::UUID AS tenant_id, "
            "'click' AS event_type, 'tai_oldschema' AS session_id, TIMESTAMPTZ '2025-01-05 10:00:00+00' AS occurred_at) "
            f"TO '{local}' (FORMAT parquet)"
        )
    finally:
        con.close()
    store.upload_file(archive.object_key("landing.clicks", date(2025, 1, 5)), local)
    _, rows = archive.query(
        "SELECT day, count(*), count(bot_reason), count(*) FILTER (WHERE consent_denied IS NULL) "
        "FROM clicks GROUP BY day ORDER BY day"
    )
    by_day = {str(r[0]): r[1:] for r in rows}
    assert by_day["2025-01-05"] == (1, 0, 1)
    assert by_day[OLD.isoformat()][0] >= 2  # the other buyer's archived clicks, schema with the flags
