"""How backup objects are sealed before they leave the host: zlib (level 1: WAL segments are mostly zeros
after an archive_timeout switch), then Fernet with TRACKAI_SECRET_KEY.

Client-side encryption on top of the store's SSE: a leaked bucket or its credentials alone do not expose
the dedupe registry, hashed PII or the tenants' encrypted secrets. The archive's Parquet is not sealed
(DuckDB reads it in place; docs/backups.md, "Encryption").
"""

from __future__ import annotations

import hashlib
import zlib

from cryptography.fernet import InvalidToken

from trackai.settings import Settings


class SealError(RuntimeError):
    pass


def seal(data: bytes, settings: Settings | None = None) -> bytes:
    from trackai import secrets

    return secrets.fernet(settings).encrypt(zlib.compress(data, 1))


def unseal(token: bytes, settings: Settings | None = None) -> bytes:
    from trackai import secrets

    try:
        return zlib.decompress(secrets.fernet(settings).decrypt(token))
    except InvalidToken as exc:
        raise SealError(
            "cannot open a backup object: TRACKAI_SECRET_KEY differs from the one that sealed it"
        ) from exc


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
