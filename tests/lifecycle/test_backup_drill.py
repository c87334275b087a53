"""Backup -> restore drill on a small database: base backup and WAL archive on the local S3, restores into
isolated servers, identical counts and checksums at the latest point and at a chosen timestamp (PITR)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from trackai.lifecycle import basebackup, checksums, drill, retention, wal
from trackai.lifecycle.store import ObjectStore

pytestmark = pytest.mark.integration


def _land_clicks(url: str, tenant: str, count: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO landing.clicks (tenant_id, session_id, occurred_at, client_ip, fbclid)
            SELECT %s, 's' || g, now() - g * interval '1 minute', '203.0.113.7', 'fb' || g
              FROM generate_series(1, %s) g
            """,
            (tenant, count),
        )


@pytest.fixture(scope="module")
def tenant(source) -> str:
    with psycopg.connect(source.url(), autocommit=True) as conn:
        return conn.execute(
            "INSERT INTO core.tenants (name, pixel_id) VALUES ('drill', '123456789') RETURNING tenant_id::text"
        ).fetchone()[0]


@pytest.fixture(scope="module")
def base_backup(source):
    return basebackup.take(source.url())


def test_wal_push_is_idempotent_and_never_overwrites(s3, tmp_path) -> None:
    segment = tmp_path / "000000010000000000000099"
    segment.write_bytes(b"\x01" * 4096)
    assert wal.push(segment, segment.name) == "archived"
    assert wal.push(segment, segment.name) == "already archived"  # a retry after a lost reply
    segment.write_bytes(b"\x02" * 4096)
    with pytest.raises(RuntimeError, match="refusing to overwrite"):
        wal.push(segment, segment.name)
    out = tmp_path / "fetched"
    assert wal.fetch(segment.name, out) and out.read_bytes() == b"\x01" * 4096
    assert not wal.fetch("000000010000000000000098", tmp_path / "missing")
    raw = ObjectStore.from_settings("backups").client.get_object(
        Bucket=ObjectStore.from_settings("backups").bucket,
        Key=ObjectStore.from_settings("backups").key(wal.key(segment.name)),
    )
    assert raw["ServerSideEncryption"] == "AES256"
    assert b"\x01" * 64 not in raw["Body"].read()  # sealed client-side too


def test_backup_then_drill_restores_identical_data_latest_and_point_in_time(
    source, tenant, base_backup
) -> None:
    url = source.url()
    assert base_backup.raw_bytes > base_backup.stored_bytes > 0 and base_backup.chunks
    # the backup returned only once its last segment was in the archive (PITR from it is possible)
    assert base_backup.stop_wal_archived is True
    assert wal.key(base_backup.stop_wal) in {
        o["key"] for o in ObjectStore.from_settings("backups").list("wal/")
    }
    _land_clicks(url, tenant, 3000)

    _land_clicks(url, tenant, 500)
    earlier = checksums.create_marker(url)  # the point in time the PITR check restores to
    _land_clicks(url, tenant, 700)

    report = drill.run_drill(url, pitr_target=earlier)
    assert report.ok, report.error
    latest, pitr = report.checks
    assert latest["kind"] == "latest" and pitr["kind"] == "point_in_time"
    assert latest["differences"] == [] and pitr["differences"] == []
    with psycopg.connect(url) as conn:
        clicks_now = conn.execute("SELECT count(*) FROM landing.clicks").fetchone()[0]
    assert earlier.tables["landing.clicks"][0] == clicks_now - 700
    assert pitr["target"].startswith("time ") and latest["target"].startswith("restore point ")
    assert 0 < report.rpo_s < 60 and 0 < report.rto_s < 600
    stored = drill.last_drills(ObjectStore.from_settings("backups"))
    assert stored[-1]["drill_id"] == report.drill_id and stored[-1]["ok"]


def test_drill_fails_when_the_restored_data_differs(source, tenant, base_backup) -> None:
    url = source.url()
    marker = checksums.create_marker(url)
    marker.tables["landing.clicks"][0] += 1  # what the source would have had, had a row been lost
    report = drill.run_drill(url, pitr_target=marker, latest=False)
    assert not report.ok
    assert "landing.clicks" in report.error


def test_retention_keeps_the_window_and_the_newest_backup(source, base_backup) -> None:
    store = ObjectStore.from_settings("backups")
    basebackup.take(source.url())
    backups = basebackup.list_backups(store)
    assert len(backups) >= 2
    wal_before = wal.archived_names(store)
    now = datetime.now(UTC) + timedelta(days=30)  # every backup is older than a 7-day window then
    report = retention.prune(store, now=now, retention_days=7)
    kept = basebackup.list_backups(store)
    assert [b.backup_id for b in kept] == [backups[-1].backup_id]
    assert sorted(report.deleted_backups) == sorted(b.backup_id for b in backups[:-1])
    remaining = wal.archived_names(store)
    assert all(n[8:24] >= backups[-1].start_wal[8:24] for n in remaining if not n.endswith(".history"))
    assert len(remaining) < len(wal_before)
    json.dumps(report.as_dict())
