"""What tests share (issue 13): one place for row builders, process launchers, fakes and fixtures.

- ``tests.support.rows``: rows inserted as the services write them (landing, core, ops).
- ``tests.support.world``: a two-tenant world seeded through ingest, the micro-batch, dispatch and dbt.
- ``tests.support.processes``: ``Processes`` (child processes + readiness + stop), ``app_server`` (an ASGI
  app in a thread), ``wait_until``, ``trackai(...)`` argv.
- ``tests.support.receiver``: ``LoopbackReceiver``, an HTTP endpoint on 127.0.0.1 that records requests.
- ``tests.support.browser``: ``launch_chromium`` (Debian's Chromium via Playwright; skip, or fail in CI).
- Free ports: ``trackai.net.free_port``. The Graph API fake: ``trackai_cli.capi_mock``.

Fixtures (tests/conftest.py): ``browser`` (module), ``http_receiver`` (test), ``processes`` (test).
"""
