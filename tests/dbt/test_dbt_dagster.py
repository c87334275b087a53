"""How Dagster runs dbt: one EMQ weight table, the connection passed to dbt only, views rebuilt when stale."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
from dagster_dbt import DbtCliResource

from dagster_project.lib import dbt_runner
from dagster_project.lib.dbt_resource import TrackaiDbtCliResource, scoped_environ
from dagster_project.lib.dbt_views import definition_fingerprint, missing_views, relation_of
from trackai.core import emq


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not dbt_runner.MANIFEST_PATH.exists():
        dbt_runner.prepare()
    return json.loads(dbt_runner.MANIFEST_PATH.read_text())


def test_generated_dbt_files_are_current():
    """The EMQ weights live in trackai/core/emq.py only; dbt's macro is written from them."""
    for path, text in dbt_runner.generated_files().items():
        assert path.read_text() == text, f"{path} is stale: run `trackai dbt prepare`"
    macro = dbt_runner.EMQ_MACRO_PATH.read_text()
    for key, weight in emq.EMQ_WEIGHTS.items():
        assert f"->> '{key}', '') NOT IN ('', '[]') THEN {weight} ELSE 0 END" in macro


def test_generated_files_are_rewritten_only_when_they_differ(monkeypatch, tmp_path):
    target = tmp_path / "estimated_emq.sql"
    monkeypatch.setattr(dbt_runner, "generated_files", lambda: {target: emq.dbt_macro()})
    assert dbt_runner.write_generated() == [target]
    assert dbt_runner.write_generated() == []
    target.write_text("-- edited by hand")
    assert dbt_runner.write_generated() == [target] and target.read_text() == emq.dbt_macro()


def test_the_connection_goes_to_the_dbt_process_only(monkeypatch):
    resource = TrackaiDbtCliResource(
        project_dir=str(dbt_runner.DBT_PROJECT_DIR),
        profiles_dir=str(dbt_runner.DBT_PROJECT_DIR),
        dbt_executable=dbt_runner.dbt_executable(),
        database_url="postgresql://analyst:s3cret@db.example:6543/trackai",
    )
    env = resource.cli_env()
    assert (env["TRACKAI_DBT_HOST"], env["TRACKAI_DBT_PORT"], env["TRACKAI_DBT_PASSWORD"]) == (
        "db.example",
        "6543",
        "s3cret",
    )
    monkeypatch.setenv("TRACKAI_DBT_HOST", "before")
    monkeypatch.delenv("TRACKAI_DBT_PASSWORD", raising=False)
    seen = {}

    def fake_cli(self, args, **kwargs):  # what DbtCliResource.cli reads to build the dbt process env
        seen.update({k: os.environ.get(k) for k in env})
        return "invocation"

    monkeypatch.setattr(DbtCliResource, "cli", fake_cli)
    assert resource.cli(["run"]) == "invocation"
    assert seen == env
    assert os.environ["TRACKAI_DBT_HOST"] == "before" and "TRACKAI_DBT_PASSWORD" not in os.environ


def test_scoped_environ_restores_even_on_error(monkeypatch):
    monkeypatch.setenv("TRACKAI_X_KEEP", "1")
    monkeypatch.delenv("TRACKAI_X_NEW", raising=False)
    with pytest.raises(RuntimeError), scoped_environ({"TRACKAI_X_KEEP": "2", "TRACKAI_X_NEW": "3"}):
        assert os.environ["TRACKAI_X_KEEP"] == "2"
        raise RuntimeError
    assert os.environ["TRACKAI_X_KEEP"] == "1" and "TRACKAI_X_NEW" not in os.environ


def test_no_dbt_version_subprocess_and_no_in_process_adapter(monkeypatch):
    """Both overrides replace private hooks of dagster-dbt: if an upgrade renames them, this fails."""
    import dbt.version

    assert callable(DbtCliResource._initialize_dbt_core_adapter)
    assert "_cli_version" in vars(DbtCliResource)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"spawned {args}")

    monkeypatch.setattr(subprocess, "check_output", no_subprocess)
    resource = TrackaiDbtCliResource(
        project_dir=str(dbt_runner.DBT_PROJECT_DIR), dbt_executable=dbt_runner.dbt_executable()
    )
    assert str(resource._cli_version) == dbt.version.__version__
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_definition_fingerprint_follows_models_macros_and_config(manifest):
    base = definition_fingerprint(manifest)
    assert base == definition_fingerprint(copy.deepcopy(manifest))
    model = next(uid for uid in manifest["nodes"] if uid.startswith("model.trackai."))
    macro = next(uid for uid in manifest["macros"] if uid.startswith("macro.trackai."))
    changes = [
        ("nodes", model, "raw_code", "select 1"),
        ("nodes", model, "config", {"materialized": "table"}),
        ("macros", macro, "macro_sql", "{% macro x() %}{% endmacro %}"),
    ]
    for section, uid, field, value in changes:
        changed = copy.deepcopy(manifest)
        changed[section][uid][field] = value
        assert definition_fingerprint(changed) != base, (section, field)
    other = copy.deepcopy(manifest)
    other["metadata"]["generated_at"] = "2000-01-01T00:00:00Z"  # re-parsing alone rebuilds nothing
    assert definition_fingerprint(other) == base


def test_missing_views_lists_what_is_not_a_view(conn, manifest):
    view = relation_of(manifest, "model.trackai.fct_dispatched_events")
    assert view == ("analytics", "fct_dispatched_events")
    conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    conn.execute("CREATE OR REPLACE VIEW analytics.fct_dispatched_events AS SELECT 1 AS x")
    conn.execute("CREATE TABLE IF NOT EXISTS analytics.dim_tenants (x int)")  # a table is not the view
    assert missing_views(conn, [view, ("analytics", "dim_tenants"), ("analytics", "nope")]) == [
        "analytics.dim_tenants",
        "analytics.nope",
    ]


def test_partial_parse_state_is_kept_where_the_next_invocation_reads_it(monkeypatch, tmp_path):
    from dagster_project.lib.dbt_resource import keep_partial_parse, shared_target_path

    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert shared_target_path() == dbt_runner.MANIFEST_PATH.parent
    shared, invocation = tmp_path / "target", tmp_path / "target" / "trackai_dbt_daily-abc-123"
    invocation.mkdir(parents=True)
    monkeypatch.setenv("DBT_TARGET_PATH", str(shared))  # e.g. a test's or a deployment's own target dir
    assert shared_target_path() == shared
    keep_partial_parse(invocation)  # nothing written by dbt: nothing to keep
    assert not (shared / "partial_parse.msgpack").exists()
    (invocation / "partial_parse.msgpack").write_bytes(b"state")
    keep_partial_parse(invocation)
    assert (shared / "partial_parse.msgpack").read_bytes() == b"state"
    assert sorted(p.name for p in shared.iterdir()) == ["partial_parse.msgpack", invocation.name]
