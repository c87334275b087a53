"""Durability and data lifecycle (issue 19; docs/backups.md, docs/scaling.md).

- ``store``: the S3-compatible object store (boto3), every object written with server-side encryption.
- ``sealing``: what backups are sealed with before upload (zlib, then Fernet with TRACKAI_SECRET_KEY).
- ``pgtools`` / ``server``: the Postgres binaries (pgserver's bundle by default) and private servers.
- ``wal``: the archive_command / restore_command entry points (``python -m trackai.lifecycle.wal``).
- ``basebackup``, ``retention``, ``restore``, ``checksums``, ``drill``: backups, PITR and the restore drill.
- ``partitions``, ``duck``, ``archive``, ``archive_source``: daily partitions, the Parquet archive read
  with DuckDB, and the archive-backed reads of an archived-day backfill.
"""
