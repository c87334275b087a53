"""Fixtures of the lifecycle suite: a local S3 (moto's server on 127.0.0.1, a real HTTP endpoint that
boto3, DuckDB's httpfs and Postgres's archive_command all reach) and a private Postgres with WAL
archiving on, started in a temporary directory with pgserver's binaries. Nothing touches a cloud."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trackai.settings import reset_settings_cache

BUCKET = "trackai-lifecycle-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh bucket on a moto server; the lifecycle settings point at it for the module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "lifecycle-test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "lifecycle-test-secret")
        mp.setenv("TRACKAI_LIFECYCLE_S3_ENDPOINT_URL", endpoint)
        mp.setenv("TRACKAI_LIFECYCLE_S3_BUCKET", BUCKET)
        mp.setenv("TRACKAI_LIFECYCLE_BACKUP_PREFIX", f"b{secrets.token_hex(3)}/")
        drills = Path(
            tempfile.mkdtemp(prefix="trackai-drills-")
        )  # not under pytest's 0700 tmp: servers run as another user
        mp.setenv("TRACKAI_LIFECYCLE_DRILL_DIR", str(drills))
        reset_settings_cache()
        from trackai.lifecycle.store import ObjectStore

        store = ObjectStore.from_settings("backups")
        if BUCKET not in [b["Name"] for b in store.client.list_buckets().get("Buckets", [])]:
            store.client.create_bucket(Bucket=BUCKET)
        yield endpoint
    reset_settings_cache()
    server.stop()
    shutil.rmtree(drills, ignore_errors=True)


@pytest.fixture(scope="module")
def source(s3: str):
    """A private Postgres with archive_mode on (archive_timeout 2 s), migrated like production."""
    from trackai import migrations
    from trackai.lifecycle.server import PrivateServer
    from trackai.settings import REPO_ROOT

    base = Path(tempfile.mkdtemp(prefix="trackai-source-"))
    server = PrivateServer.init(base / "data", archive=True, archive_timeout_s=2)
    server.start()
    try:
        migrations.upgrade(server.url(), REPO_ROOT / "sql")
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
