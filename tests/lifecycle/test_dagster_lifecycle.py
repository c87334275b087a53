"""The lifecycle domain in Dagster: backup + freshness check, the restore drill job and its alarm,
partitions ahead; against the private source and the local S3."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from dagster_project.defs import lifecycle

pytestmark = pytest.mark.integration


@pytest.fixture
def source_env(source, setenv):
    setenv("TRACKAI_LIFECYCLE_BACKUP_DATABASE_URL", source.url())
    return source


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_drill_alarm_until_a_drill_passes_then_backup_and_drill_jobs_are_green(source_env) -> None:
    defs = lifecycle.build_defs()
    checks = [lifecycle.backup_freshness, lifecycle.restore_drill_green]
    before = dg.materialize([lifecycle.base_backup], selection=[lifecycle.base_backup.key])
    assert before.success
    state = _checks(
        dg.materialize(
            [lifecycle.base_backup, lifecycle.restore_drill, *checks],
            selection=dg.AssetSelection.checks(*checks),
        )
    )
    assert state == {"backup_freshness": True, "restore_drill_green": False}  # no drill has passed yet

    drill = dg.materialize([lifecycle.restore_drill], selection=[lifecycle.RESTORE_DRILL])
    assert drill.success
    metadata = drill.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rpo_s"].value > 0 and metadata["rto_s"].value > 0
    kinds = [c["kind"] for c in metadata["checks"].value]
    assert kinds == ["latest", "point_in_time"] and all(c["ok"] for c in metadata["checks"].value)
    state = _checks(
        dg.materialize(
            [lifecycle.base_backup, lifecycle.restore_drill, *checks],
            selection=dg.AssetSelection.checks(*checks),
        )
    )
    assert state == {"backup_freshness": True, "restore_drill_green": True}
    assert {s.name for s in defs.schedules} >= {
        "lifecycle_backup_daily",
        "lifecycle_restore_drill_fortnightly",
    }


def test_partitions_asset_keeps_days_ahead(pg_url) -> None:
    from dagster_project.lib.resources import PostgresResource

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "DROP TABLE landing.clicks_p"
            + conn.execute("SELECT to_char((now() AT TIME ZONE 'UTC')::date + 7, 'YYYYMMDD')").fetchone()[0]
        )
    result = dg.materialize(
        [lifecycle.daily_partitions], resources={"postgres": PostgresResource(url=pg_url)}
    )
    assert result.success
    created = result.get_asset_materialization_events()[0].materialization.metadata["names"].value
    assert len(created) == 1 and created[0].startswith("clicks_p")
