"""Base backups: ``pg_basebackup`` to a local staging directory, ``pg_verifybackup`` on it, then a tar of
it streamed to the object store in sealed chunks, and a manifest written last.

The manifest is the commit point: a backup without one is incomplete and never restored (retention
removes it). ``-X fetch`` puts the WAL needed for consistency inside the backup, so a base backup
restores on its own; the WAL archive adds everything after it (point-in-time recovery).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from trackai.lifecycle import pgtools, sealing
from trackai.lifecycle.store import ObjectStore
from trackai.settings import Settings, get_settings

BASE_DIR = "base/"


@dataclass
class BackupInfo:
    backup_id: str
    start_time: str
    end_time: str
    start_lsn: str
    stop_lsn: str
    timeline: int
    start_wal: str
    pg_version: int
    raw_bytes: int
    stored_bytes: int
    duration_s: float
    verified_with: str = "pg_verifybackup"
    chunks: list[dict] = field(default_factory=list)
    # the segment holding the backup's end, and whether the archive had it when the backup finished
    stop_wal: str | None = None
    stop_wal_archived: bool | None = None

    @property
    def ended(self) -> datetime:
        return datetime.fromisoformat(self.end_time)

    def as_dict(self) -> dict:
        return asdict(self)


class _ChunkUploader:
    """A write-only file object: bytes are cut into chunks, each sealed and stored as it fills."""

    def __init__(self, store: ObjectStore, prefix: str, chunk_bytes: int, settings: Settings) -> None:
        self.store, self.prefix, self.chunk_bytes, self.settings = store, prefix, chunk_bytes, settings
        self.buffer = bytearray()
        self.chunks: list[dict] = []
        self.raw = 0
        self.stored = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= self.chunk_bytes:
            self._flush(bytes(self.buffer[: self.chunk_bytes]))
            del self.buffer[: self.chunk_bytes]
        return len(data)

    def close(self) -> None:
        if self.buffer or not self.chunks:
            self._flush(bytes(self.buffer))
            self.buffer.clear()

    def _flush(self, chunk: bytes) -> None:
        sealed = sealing.seal(chunk, self.settings)
        name = f"{self.prefix}data.tar.{len(self.chunks):05d}"
        self.store.put(name, sealed, {"sha256": sealing.sha256(sealed)})
        self.chunks.append({"key": name, "sha256": sealing.sha256(sealed), "bytes": len(sealed)})
        self.raw += len(chunk)
        self.stored += len(sealed)


def _label_field(label: str, name: str) -> str:
    match = re.search(rf"^{name}: (.+)$", label, re.MULTILINE)
    if not match:
        raise ValueError(f"backup_label has no {name}")
    return match.group(1).strip()


def take(url: str, settings: Settings | None = None, *, store: ObjectStore | None = None) -> BackupInfo:
    """Take, verify and upload one base backup of the server of ``url``; returns its manifest."""
    settings = settings or get_settings()
    store = store or ObjectStore.from_settings("backups", settings)
    started = time.perf_counter()
    backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory(prefix="trackai-basebackup-") as tmp:
        staging = Path(tmp) / "data"
        pgtools.run(
            "pg_basebackup",
            [
                "-d",
                url,
                "-D",
                str(staging),
                "-Fp",
                "-X",
                "fetch",
                "-c",
                "fast",
                "--no-sync",
                "--manifest-checksums=SHA256",
                "-l",
                f"trackai-{backup_id}",
            ],
            settings=settings,
        )
        pgtools.run("pg_verifybackup", ["-q", str(staging)], settings=settings)
        end_time = datetime.now(UTC)
        label = (staging / "backup_label").read_text()
        manifest = json.loads((staging / "backup_manifest").read_text())
        wal_range = manifest["WAL-Ranges"][-1]
        uploader = _ChunkUploader(
            store, f"{BASE_DIR}{backup_id}/", settings.lifecycle.backup_chunk_mib * 1024 * 1024, settings
        )
        with tarfile.open(fileobj=uploader, mode="w|") as tar:
            for child in sorted(staging.iterdir()):
                tar.add(child, arcname=child.name)
        uploader.close()
        version = int((staging / "PG_VERSION").read_text().strip())
    start_wal = _label_field(label, "START WAL LOCATION")
    info = BackupInfo(
        backup_id=backup_id,
        start_time=datetime.strptime(_label_field(label, "START TIME"), "%Y-%m-%d %H:%M:%S %Z")
        .replace(tzinfo=UTC)
        .isoformat(),
        end_time=end_time.isoformat(),
        start_lsn=start_wal.split()[0],
        stop_lsn=wal_range["End-LSN"],
        timeline=int(wal_range["Timeline"]),
        start_wal=start_wal.split("file ")[1].rstrip(")"),
        pg_version=version,
        raw_bytes=uploader.raw,
        stored_bytes=uploader.stored,
        duration_s=round(time.perf_counter() - started, 3),
        chunks=uploader.chunks,
    )
    info.stop_wal, info.stop_wal_archived = _await_stop_segment(
        url, info.stop_lsn, store, settings.lifecycle.wal_archive_wait_s
    )
    store.put(f"{BASE_DIR}{backup_id}/manifest.json", json.dumps(info.as_dict(), indent=1).encode())
    return info


def _await_stop_segment(
    url: str, stop_lsn: str, store: ObjectStore, wait_s: float
) -> tuple[str | None, bool | None]:
    """Wait until the archiver has shipped the segment holding the backup's end.

    pg_basebackup with WAL included does not wait for archiving (the backup holds its own WAL), but
    the server switches segment at the backup's end and ships it a moment later. Until then the
    archive may hold nothing newer than the backup's start, which retention has just made the floor:
    point-in-time recovery from this backup, and the freshness alarm, need that segment. Returns
    (segment name, archived?); (None, None) when the server archives nothing (archive_mode off).
    """
    from trackai.lifecycle import wal

    with psycopg.connect(url, autocommit=True) as conn:
        mode, name = conn.execute(
            "SELECT current_setting('archive_mode'), pg_walfile_name(%s::pg_lsn)", (stop_lsn,)
        ).fetchone()
    if mode == "off":
        return None, None
    deadline = time.monotonic() + wait_s
    while store.head(wal.key(name)) is None:
        if time.monotonic() >= deadline:
            return name, False
        time.sleep(0.25)
    return name, True


def list_backups(store: ObjectStore) -> list[BackupInfo]:
    """Complete base backups (those with a manifest), oldest first."""
    found = []
    for obj in store.list(BASE_DIR):
        if obj["key"].endswith("/manifest.json"):
            found.append(BackupInfo(**json.loads(store.get(obj["key"]))))
    return sorted(found, key=lambda b: b.end_time)


def incomplete_backups(store: ObjectStore) -> dict[str, list[str]]:
    """Backup directories without a manifest (an upload that died): id -> object keys."""
    by_id: dict[str, list[str]] = {}
    for obj in store.list(BASE_DIR):
        by_id.setdefault(obj["key"].split("/")[1], []).append(obj["key"])
    return {bid: keys for bid, keys in by_id.items() if f"{BASE_DIR}{bid}/manifest.json" not in keys}


def download(info: BackupInfo, target: Path, store: ObjectStore, settings: Settings | None = None) -> int:
    """Fetch, check, unseal and untar a base backup into ``target`` (created empty); returns bytes read."""
    target.mkdir(parents=True, exist_ok=False)
    read = 0

    class _Chunks:
        """Sequential reads over the chunks, one unsealed chunk in memory at a time."""

        def __init__(self) -> None:
            self.index, self.current = 0, io.BytesIO()

        def _next(self) -> bool:
            nonlocal read
            if self.index >= len(info.chunks):
                return False
            chunk = info.chunks[self.index]
            sealed = store.get(chunk["key"])
            if sealing.sha256(sealed) != chunk["sha256"]:
                raise sealing.SealError(f"{chunk['key']}: checksum differs from the backup manifest")
            read += len(sealed)
            self.current = io.BytesIO(sealing.unseal(sealed, settings))
            self.index += 1
            return True

        def read(self, size: int = -1) -> bytes:
            parts = []
            while True:
                data = self.current.read(size) if size >= 0 else self.current.read()
                parts.append(data)
                if size >= 0:
                    size -= len(data)  # BytesIO returns less than asked only when exhausted
                if size == 0 or not self._next():
                    break
            return b"".join(parts)

    with tarfile.open(fileobj=_Chunks(), mode="r|") as tar:
        tar.extractall(target, filter="fully_trusted")  # noqa: S202 - sealed by us: Fernet authenticated it
    return read


def remove_local(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
