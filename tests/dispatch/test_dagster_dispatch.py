"""The dispatch asset and the DLQ replay job run through Dagster against the fake."""

import dagster as dg

from dagster_project.defs.dispatch import build_defs, dispatch, dlq_replay_job
from dagster_project.lib.resources import MetaCapiResource, PostgresResource
from tests.support.rows import add_purchase, queue_status
from trackai.settings import reset_settings_cache
from trackai_cli.capi_mock import MockConfig, MockServer


def test_asset_and_replay_job(conn, pg_url, make_tenant, setenv):
    defs = dg.Definitions.merge(
        build_defs(), dg.Definitions(resources={"postgres": PostgresResource(url=pg_url)})
    )
    assert (
        defs.resolve_assets_def(dg.AssetKey(["ops", "dispatch_attempts"])).group_names_by_key[
            dg.AssetKey(["ops", "dispatch_attempts"])
        ]
        == "pipeline"
    )
    tenant, _ = make_tenant()
    good = add_purchase(conn, tenant)
    with MockServer(MockConfig()) as fake:
        setenv("TRACKAI_META_GRAPH_URL", fake.url)
        reset_settings_cache()
        fake.configure(reject_event_ids=[good])
        result = dg.materialize(
            [dispatch], resources={"postgres": PostgresResource(url=pg_url), "meta_capi": MetaCapiResource()}
        )
        assert result.success and queue_status(conn, good) == "dlq"
        fake.configure(reject_event_ids=[])
        job = defs.resolve_job_def(dlq_replay_job.name)
        run = job.execute_in_process(run_config={"ops": {"replay_dlq": {"config": {"event_ids": [good]}}}})
        assert run.success
        assert fake.event_ids() == [good] and queue_status(conn, good) == "sent"
    reset_settings_cache()
