"""WAL archiving to the object store: Postgres's archive_command and restore_command.

    archive_command = '<python> -m trackai.lifecycle.wal push %p %f'
    restore_command = '<python> -m trackai.lifecycle.wal fetch %f %p'

Why archive_command and not pg_receivewal (docs/backups.md, "WAL shipping"): Postgres keeps a segment
until this command exits 0, so a failed upload is retried by the server itself and nothing is lost while
the store is down (the alarm watches pg_stat_archiver); no extra daemon, replication slot or local spool
to supervise. The cost is the RPO: a segment ships when full or after archive_timeout, whichever first.

A segment is sealed (``sealing``) and stored under ``wal/<name>``; pushing a name already stored with the
same content succeeds (a retry after a lost reply), with other content it fails (never overwrite).
``fetch`` of an unknown name exits 1, which tells recovery the archive has nothing more; any other
failure exits 126, which stops recovery (never a silent early promotion).
"""

from __future__ import annotations

import sys
from pathlib import Path

from trackai.settings import Settings

WAL_DIR = "wal/"


def key(name: str) -> str:
    return WAL_DIR + name


def push(path: Path, name: str, settings: Settings | None = None) -> str:
    from trackai.lifecycle import sealing
    from trackai.lifecycle.store import ObjectStore

    store = ObjectStore.from_settings("backups", settings)
    data = path.read_bytes()
    digest = sealing.sha256(data)
    existing = store.head(key(name))
    if existing is not None:
        if existing.get("Metadata", {}).get("sha256") == digest:
            return "already archived"
        raise RuntimeError(f"{name} is archived with other content; refusing to overwrite it")
    store.put(key(name), sealing.seal(data, settings), {"sha256": digest, "bytes": str(len(data))})
    return "archived"


def fetch(name: str, dest: Path, settings: Settings | None = None, *, store=None) -> bool:
    from trackai.lifecycle import sealing
    from trackai.lifecycle.store import ObjectStore

    store = store or ObjectStore.from_settings("backups", settings)
    try:
        sealed = store.get(key(name))
    except FileNotFoundError:
        return False
    data = sealing.unseal(sealed, settings)
    tmp = dest.with_name(dest.name + ".trackai-tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return True


def archived_names(store) -> list[str]:
    return sorted(obj["key"][len(WAL_DIR) :] for obj in store.list(WAL_DIR))


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("push", "fetch"):
        print("usage: python -m trackai.lifecycle.wal push %p %f | fetch %f %p", file=sys.stderr)
        return 2
    try:
        if argv[0] == "push":
            push(Path(argv[1]), argv[2])
            return 0
        return 0 if fetch(argv[1], Path(argv[2])) else 1
    except Exception as exc:
        # push: the server keeps the segment and retries. fetch: an exit code above 125 makes recovery stop
        # with FATAL instead of taking "cannot read the archive" for "the archive ends here" and promoting
        # a database that misses committed data.
        print(f"trackai wal {argv[0]} {argv[1]}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3 if argv[0] == "push" else 126


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
