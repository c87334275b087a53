"""``trackai backup base|list|status|prune|restore|restore-drill|setup`` (docs/backups.md).

Backups are of the server behind TRACKAI_LIFECYCLE_BACKUP_DATABASE_URL (default: the main URL), to the
bucket of TRACKAI_LIFECYCLE_S3_*. ``restore-drill`` is also ``trackai db restore-drill``.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="backups: base backup, WAL archive, PITR restore, restore drill")
    actions = backup.add_subparsers(dest="backup_command", metavar="ACTION")
    actions.required = True
    actions.add_parser("base", help="take, verify and upload a base backup now").set_defaults(handler=_base)
    actions.add_parser("list", help="base backups, WAL and drills in the store").set_defaults(handler=_list)
    status = actions.add_parser(
        "status", help="backup freshness (the alarm's evaluation); exit 1 when failing"
    )
    status.set_defaults(handler=_status)
    prune = actions.add_parser("prune", help="apply the retention window to the store")
    prune.add_argument(
        "--days", type=float, help="window in days (default TRACKAI_LIFECYCLE_BACKUP_RETENTION_DAYS)"
    )
    prune.set_defaults(handler=_prune)
    restore = actions.add_parser("restore", help="restore into a new local server and leave it running")
    target = restore.add_mutually_exclusive_group()
    target.add_argument("--to", help="point in time (ISO 8601 with zone), e.g. 2026-03-01T12:00:00+00:00")
    target.add_argument("--name", help="a restore point name (drill markers are trackai-...)")
    restore.add_argument("--dir", type=Path, help="where to restore (default: <data_dir>/restore)")
    restore.set_defaults(handler=_restore)
    add_drill_parser(actions)
    actions.add_parser("setup", help="print the server settings that turn WAL archiving on").set_defaults(
        handler=_setup
    )


def add_drill_parser(actions: argparse._SubParsersAction) -> None:
    """``restore-drill``: registered under ``backup`` and under ``db``."""
    drill = actions.add_parser(
        "restore-drill",
        help="restore latest and point-in-time into isolated servers, compare, report RPO/RTO",
    )
    drill.add_argument("--no-pitr", action="store_true", help="only the restore to the latest point")
    drill.add_argument("--keep", action="store_true", help="leave the restored servers running")
    drill.set_defaults(handler=_drill)


def _source_url() -> str:
    from trackai import db
    from trackai.settings import get_settings

    return get_settings().lifecycle.backup_database_url or db.database_url(announce=True)


def _print(payload: object) -> None:
    print(json.dumps(payload, indent=1, default=str))


def _base(args: argparse.Namespace) -> int:
    from trackai.lifecycle import basebackup

    info = basebackup.take(_source_url())
    _print({k: v for k, v in info.as_dict().items() if k != "chunks"} | {"chunks": len(info.chunks)})
    return 0


def _list(args: argparse.Namespace) -> int:
    from trackai.lifecycle import basebackup, drill, wal
    from trackai.lifecycle.store import ObjectStore

    store = ObjectStore.from_settings("backups")
    names = wal.archived_names(store)
    _print(
        {
            "backups": [
                {
                    k: b.as_dict()[k]
                    for k in ("backup_id", "end_time", "start_wal", "raw_bytes", "stored_bytes")
                }
                for b in basebackup.list_backups(store)
            ],
            "wal_segments": len(names),
            "wal_range": [names[0], names[-1]] if names else None,
            "drills": [
                {k: d.get(k) for k in ("drill_id", "ok", "rpo_s", "rto_s")}
                for d in drill.last_drills(store, 5)
            ],
        }
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from trackai.lifecycle import health
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import get_settings

    facts = health.gather(ObjectStore.from_settings("backups"), datetime.now(UTC), _source_url())
    result = health.evaluate(facts, get_settings().lifecycle)
    _print(result.as_dict())
    return 0 if result.passed else 1


def _prune(args: argparse.Namespace) -> int:
    from trackai.lifecycle import retention
    from trackai.lifecycle.store import ObjectStore
    from trackai.settings import get_settings

    days = args.days or get_settings().lifecycle.backup_retention_days
    _print(
        retention.prune(
            ObjectStore.from_settings("backups"), now=datetime.now(UTC), retention_days=days
        ).as_dict()
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from trackai.lifecycle import restore
    from trackai.settings import get_settings

    settings = get_settings()
    workdir = args.dir or settings.lifecycle.drill_dir or settings.data_dir / "restore"
    target_time = datetime.fromisoformat(args.to) if args.to else None
    if target_time is not None and target_time.tzinfo is None:
        raise ValueError("--to needs a time zone, e.g. 2026-03-01T12:00:00+00:00")
    done = restore.restore(Path(workdir), target_time=target_time, target_name=args.name)
    _print(
        {
            "url": done.server.url(),
            "datadir": str(done.server.datadir),
            "backup_id": done.backup.backup_id,
            "target": done.target,
            "rto_s": done.rto_s,
            "stop_with": f"pg_ctl -D {done.server.datadir} stop",
        }
    )
    return 0


def _drill(args: argparse.Namespace) -> int:
    from trackai.lifecycle import drill

    report = drill.run_drill(_source_url(), pitr=not args.no_pitr, keep=args.keep)
    _print(report.as_dict())
    return 0 if report.ok else 1


def _setup(args: argparse.Namespace) -> int:
    from trackai.lifecycle.server import wal_command

    print(
        "\n".join(
            [
                "-- run as a superuser on the source server, then restart it (archive_mode needs a restart);",
                "-- the server's environment needs the TRACKAI_LIFECYCLE_S3_* variables, TRACKAI_SECRET_KEY and",
                "-- S3 credentials (docs/backups.md, 'Turning it on')",
                "ALTER SYSTEM SET wal_level = 'replica';",
                "ALTER SYSTEM SET archive_mode = 'on';",
                f"ALTER SYSTEM SET archive_command = '{wal_command('push')}';",
                "ALTER SYSTEM SET archive_timeout = '60s';",
            ]
        )
    )
    return 0
