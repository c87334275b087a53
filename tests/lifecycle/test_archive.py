"""Parquet archive round trip on the local S3: rows archived and read back through DuckDB equal the
originals; retention drops only verified days; `trackai archive query` reads history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from trackai.lifecycle import archive, partitions
from trackai.lifecycle.store import ObjectStore

pytestmark = pytest.mark.integration
OLD = date(2025, 3, 10)  # far outside the hot window


@pytest.fixture(scope="module")
def landed(pg_url, s3):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tenant = conn.execute(
            "INSERT INTO core.tenants (name, pixel_id) VALUES ('archive', '123456789') RETURNING tenant_id::text"
        ).fetchone()[0]
        start = datetime.combine(OLD, datetime.min.time(), UTC)
        for offset in (0, 1):  # two old days
            conn.execute(
                """
                INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, client_ip, fbclid, utm, email_hash)
                SELECT %s, 's' || g, %s + g * interval '17 seconds', ('10.1.' || (g %% 250) || '.9')::inet,
                       CASE WHEN g %% 3 = 0 THEN 'fb' || g END, jsonb_build_object('utm_source', 'ig' || g %% 4),
                       CASE WHEN g %% 5 = 0 THEN md5(g::text) || md5('x' || g) END
                  FROM generate_series(1, 2000) g
                """,
                (tenant, start + timedelta(days=offset)),
            )
        partitions.ensure_ahead(conn, 7)
    return tenant


def _rows(conn, day: date) -> list[tuple]:
    return conn.execute(
        "SELECT click_id, tenant_id::text, session_id, occurred_at, client_ip::text, fbclid, utm::text, email_hash "
        "FROM landing.clicks WHERE occurred_at >= %s AND occurred_at < %s ORDER BY click_id",
        (day, day + timedelta(days=1)),
    ).fetchall()


@pytest.fixture(scope="module")
def archived(pg_url, landed):
    """The originals of OLD, then retention as if today were OLD + 31 (OLD is past a 30-day window)."""
    with psycopg.connect(pg_url) as conn:
        originals = _rows(conn, OLD)
    return originals, archive.retain(pg_url, today=OLD + timedelta(days=31))


def test_round_trip_and_retention(archived, conn) -> None:
    originals, report = archived
    assert len(originals) == 2000
    done = {(d.parent, d.day): d for d in report.days}
    assert not report.failed, report.failed
    clicks_day = done[("landing.clicks", OLD.isoformat())]
    assert clicks_day.verified and clicks_day.dropped and clicks_day.rows == 2000
    assert ("landing.clicks", (OLD + timedelta(days=1)).isoformat()) not in done
    assert _rows(conn, OLD) == []  # dropped from Postgres
    assert len(_rows(conn, OLD + timedelta(days=1))) == 2000  # inside the window: kept

    names, back = archive.query(
        f"SELECT click_id, tenant_id::VARCHAR, session_id, occurred_at, client_ip, fbclid, utm, email_hash "
        f"FROM clicks WHERE day = DATE '{OLD.isoformat()}' ORDER BY click_id"
    )
    assert names[0] == "click_id" and len(back) == 2000
    assert [tuple(r) for r in back] == [tuple(r) for r in originals]


def test_a_day_whose_archive_fails_verification_is_never_dropped(pg_url, archived, conn) -> None:
    day = OLD + timedelta(days=1)
    store = ObjectStore.from_settings("archive")
    result = archive.export_day(
        pg_url, "landing.clicks", "occurred_at", day, settings=_settings(), store=store
    )
    # the stored object is replaced by another day's data (a bad upload, a wrong object)
    other = archive.object_key("landing.clicks", OLD)
    store.client.copy_object(
        Bucket=store.bucket,
        Key=store.key(archive.object_key("landing.clicks", day)),
        CopySource={"Bucket": store.bucket, "Key": store.key(other)},
        ServerSideEncryption="AES256",
    )
    archive.verify_day(
        pg_url, "landing.clicks", "occurred_at", day, settings=_settings(), store=store, result=result
    )
    assert not result.verified and "archive" in result.error
    with pytest.raises(psycopg.errors.RaiseException, match="not verified"):
        conn.execute("SELECT lifecycle.drop_archived_partition('landing.clicks', %s)", (day,))
    report = archive.retain(pg_url, today=day + timedelta(days=31), store=_sabotaged(store, day))
    entry = next(d for d in report.days if d.parent == "landing.clicks" and d.day == day.isoformat())
    assert not entry.dropped and entry.error
    assert len(_rows(conn, day)) == 2000


def _settings():
    from trackai.settings import get_settings

    return get_settings()


def _sabotaged(store: ObjectStore, day: date) -> ObjectStore:
    """A store whose upload of ``day`` writes garbage: verification must catch it."""

    class Sabotaged(ObjectStore):
        def upload_file(self, relative, path, metadata=None):
            if f"day={day.isoformat()}" in relative:
                path.write_bytes(b"PAR1 not really parquet")
            super().upload_file(relative, path, metadata)

    return Sabotaged(store.client, store.bucket, store.prefix, store.sse, store.kms_key_id)


def test_cli_archive_query_and_list(archived, capsys) -> None:
    from trackai_cli.cli import main

    assert (
        main(
            ["archive", "query", "SELECT day, count(*) AS n FROM clicks GROUP BY day ORDER BY day", "--json"]
        )
        == 0
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {"day": OLD.isoformat(), "n": 2000} in [__import__("json").loads(line) for line in lines]
    assert main(["archive", "list"]) == 0
    listed = [__import__("json").loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(
        r["parent"] == "landing.clicks" and r["day"] == OLD.isoformat() and r["verified_at"] for r in listed
    )
