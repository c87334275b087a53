"""The object store: an S3-compatible bucket reached with boto3 (AWS, MinIO, or moto's server in tests).

Every object is written with server-side encryption (``TRACKAI_LIFECYCLE_S3_SSE``) and reads refuse an
object the store did not encrypt, so a bucket misconfiguration is found by the first drill, not by an
auditor. Keys are ``<prefix><relative key>``; the prefixes separate backups from the archive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trackai.settings import LifecycleSettings, Settings, get_settings


class StoreError(RuntimeError):
    """The object store is not configured, unreachable, or returned something unexpected."""


def s3_client(cfg: LifecycleSettings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=cfg.s3_endpoint_url or None,
        region_name=cfg.s3_region,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


@dataclass
class ObjectStore:
    client: Any
    bucket: str
    prefix: str
    sse: str = "AES256"
    kms_key_id: str = ""

    @classmethod
    def from_settings(cls, kind: str, settings: Settings | None = None) -> ObjectStore:
        """``kind`` is ``backups`` or ``archive``."""
        cfg = (settings or get_settings()).lifecycle
        if not cfg.s3_bucket:
            raise StoreError("TRACKAI_LIFECYCLE_S3_BUCKET is not set: no object store for backups/archive")
        prefix = cfg.backup_prefix if kind == "backups" else cfg.archive_prefix
        return cls(s3_client(cfg), cfg.s3_bucket, prefix, cfg.s3_sse, cfg.s3_kms_key_id)

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def _sse_args(self) -> dict[str, str]:
        if self.sse == "none":
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    def put(self, relative: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.key(relative), Body=data, Metadata=metadata or {}, **self._sse_args()
        )

    def upload_file(self, relative: str, path: Path, metadata: dict[str, str] | None = None) -> None:
        extra = {"Metadata": metadata or {}, **self._sse_args()}
        self.client.upload_file(str(path), self.bucket, self.key(relative), ExtraArgs=extra)

    def head(self, relative: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(relative))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def get(self, relative: str) -> bytes:
        """The object's bytes; refuses an object stored without server-side encryption."""
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(relative))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(self.key(relative)) from exc
            raise
        self._check_encrypted(relative, obj)
        return obj["Body"].read()

    def _check_encrypted(self, relative: str, response: dict) -> None:
        if self.sse != "none" and not response.get("ServerSideEncryption"):
            raise StoreError(f"{self.key(relative)} is not encrypted at rest (no server-side encryption)")

    def list(self, relative_prefix: str = "") -> Iterator[dict]:
        """Objects under the prefix: dicts with ``key`` (relative), ``size`` and ``modified``."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(relative_prefix)):
            for obj in page.get("Contents", []):
                yield {
                    "key": obj["Key"][len(self.prefix) :],
                    "size": obj["Size"],
                    "modified": obj["LastModified"],
                }

    def delete(self, relatives: list[str]) -> int:
        for start in range(0, len(relatives), 1000):
            batch = relatives[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": self.key(k)} for k in batch], "Quiet": True}
            )
        return len(relatives)

    def url(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"
