"""The backup freshness evaluation (pure): which facts raise the alarm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trackai.lifecycle.health import BackupFacts, evaluate
from trackai.settings import LifecycleSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CFG = LifecycleSettings()


def facts(**overrides) -> BackupFacts:
    base = {
        "now": NOW,
        "newest_backup_end": NOW - timedelta(hours=3),
        "newest_wal_upload": NOW - timedelta(minutes=1),
        "server_last_archived": NOW - timedelta(minutes=1),
        "last_drill_at": NOW - timedelta(days=2),
        "last_drill_ok": True,
        "last_green_drill_at": NOW - timedelta(days=2),
    }
    return BackupFacts(**(base | overrides))


def test_fresh_backups_pass() -> None:
    assert evaluate(facts(), CFG).passed


def test_old_or_missing_base_backup_fails() -> None:
    assert "27.0 h old" in evaluate(facts(newest_backup_end=NOW - timedelta(hours=27)), CFG).problems[0]
    assert not evaluate(facts(newest_backup_end=None), CFG).passed


def test_stale_wal_fails_only_when_the_server_wrote_wal_since() -> None:
    stale = facts(newest_wal_upload=NOW - timedelta(minutes=40))
    assert not evaluate(stale, CFG).passed
    stale.server_wal_since_archived = False  # an idle server switches no segment
    assert evaluate(stale, CFG).passed


def test_failing_archive_command_fails() -> None:
    broken = facts(server_last_failed=NOW - timedelta(seconds=30))
    assert "archive_command is failing" in evaluate(broken, CFG).problems[0]


def test_drills_judged_only_when_asked() -> None:
    failed = facts(last_drill_ok=False, last_green_drill_at=NOW - timedelta(days=20))
    problems = evaluate(failed, CFG).problems
    assert any("failed" in p for p in problems) and any("20.0 days old" in p for p in problems)
    assert evaluate(failed, CFG, judge_drills=False).passed
