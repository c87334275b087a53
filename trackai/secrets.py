"""Secrets at rest: Fernet ciphertext keyed by TRACKAI_SECRET_KEY, or AWS Secrets Manager references.

A stored value is either a Fernet token (``gAAAA…``) or, with ``TRACKAI_SECRETS_BACKEND=aws``,
a Secrets Manager id/ARN read through boto3 at use time. Plaintext never reaches the database.
In development with no key configured, a key is generated once under the data folder.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from trackai.settings import Settings, get_settings


class SecretError(RuntimeError):
    pass


@dataclass(frozen=True)
class StoredSecret:
    """What goes in a ``*_ciphertext`` / ``secret_ref`` column pair."""

    ciphertext: str | None
    ref: str | None


def _key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.env != "development":
        raise SecretError("TRACKAI_SECRET_KEY is required outside development")
    key_file = settings.data_dir / "dev_secret.key"
    if not key_file.exists():
        _create_dev_key(key_file)
    return key_file.read_bytes().strip()


def _create_dev_key(key_file: Path) -> None:
    """Owner-only (0600) from its first byte, and complete before it appears under its name.

    The key is written to a private temporary file (created 0600 with O_EXCL, never chmod-ed later)
    and hard-linked into place; the link fails if a concurrent first run got there first, whose key
    is then kept, so every process encrypts with the same one.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, key_file)
    finally:
        tmp.unlink(missing_ok=True)


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    return Fernet(key)


def fernet(settings: Settings | None = None) -> Fernet:
    return _fernet(_key(settings or get_settings()))


def encrypt(plaintext: str | bytes, settings: Settings | None = None) -> str:
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    return fernet(settings).encrypt(data).decode()


def decrypt(ciphertext: str, settings: Settings | None = None) -> bytes:
    try:
        return fernet(settings).decrypt(ciphertext.encode())
    except InvalidToken as exc:
        raise SecretError(
            "cannot decrypt a stored secret: TRACKAI_SECRET_KEY differs from the one used"
        ) from exc


def store(secret: str, settings: Settings | None = None) -> StoredSecret:
    """Prepare a secret for the database according to the configured backend."""
    settings = settings or get_settings()
    if settings.secrets_backend == "aws":
        return StoredSecret(ciphertext=None, ref=secret)  # the CLI is given the Secrets Manager id
    return StoredSecret(ciphertext=encrypt(secret, settings), ref=None)


def reveal(ciphertext: str | None, ref: str | None, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if ciphertext:
        return decrypt(ciphertext, settings).decode()
    if ref:
        return _aws_secret(ref, settings.aws_region)
    raise SecretError("no secret stored")


def _aws_secret(secret_id: str, region: str | None) -> str:
    import boto3

    client = boto3.client("secretsmanager", region_name=region)
    value = client.get_secret_value(SecretId=secret_id)
    if "SecretString" not in value:
        raise SecretError(f"secret {secret_id} has no SecretString")
    return value["SecretString"]
