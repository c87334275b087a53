"""Fixtures of the privacy suite: a local S3 (moto's server on 127.0.0.1) for the Parquet archive (alerts go
to the shared ``alert_webhook`` fixture). Nothing leaves the machine."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from trackai.settings import reset_settings_cache

BUCKET = "trackai-privacy-test"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "privacy-test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "privacy-test-secret")
        mp.setenv("TRACKAI_LIFECYCLE_S3_ENDPOINT_URL", endpoint)
        mp.setenv("TRACKAI_LIFECYCLE_S3_BUCKET", BUCKET)
        mp.setenv("TRACKAI_LIFECYCLE_ARCHIVE_PREFIX", f"a{secrets.token_hex(3)}/")
        reset_settings_cache()
        from trackai.lifecycle.store import ObjectStore

        store = ObjectStore.from_settings("archive")
        if BUCKET not in [b["Name"] for b in store.client.list_buckets().get("Buckets", [])]:
            store.client.create_bucket(Bucket=BUCKET)
        yield endpoint
    reset_settings_cache()
    server.stop()
