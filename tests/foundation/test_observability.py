"""JSON logs carry tenant_id/event_id and nothing outside the whitelist; Sentry is opt-in and PII-free."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr

from trackai.core.capi.errors import ErrorClass, GraphError
from trackai.dispatch import engine
from trackai.dispatch.sender import SendResult
from trackai.observability import JsonFormatter, configure_json_logging
from trackai.settings import REPO_ROOT


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_keep_whitelisted_context_and_drop_anything_else():
    record = logging.LogRecord("trackai.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    record.tenant_id = "t-1"
    record.event_id = "e-1"
    record.email = "buyer@example.com"  # a careless extra must not reach the log
    record.meta_token = "EAAB-secret"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "hello world"
    assert entry["tenant_id"] == "t-1" and entry["event_id"] == "e-1"
    assert entry["level"] == "warning" and entry["ts"].endswith("Z")
    assert "email" not in entry and "meta_token" not in entry


def test_handler_follows_redirected_stderr():
    logger = configure_json_logging("trackai.test_observability", "INFO")
    buffer = io.StringIO()
    with redirect_stderr(buffer):
        logger.info("after redirect", extra={"tenant_id": "t-2"})
    [entry] = _lines(buffer.getvalue())
    assert (entry["msg"], entry["tenant_id"], entry["level"]) == ("after redirect", "t-2", "info")


def _outcome() -> engine.BatchOutcome:
    ok = GraphError(ErrorClass.OK, http_status=200)
    throttled = GraphError(
        ErrorClass.RETRYABLE, http_status=400, code=17, message="User request limit reached"
    )
    outcome = engine.BatchOutcome("tenant-a", "123", [], "batch-1")
    outcome.events = [object(), object(), object()]  # only counted
    outcome.attempts.append(engine.Attempt(["e1", "e2"], SendResult(ok, 12), 0.0))
    outcome.sent.update({"e1", "e2"})
    outcome.retry["e3"] = throttled
    return outcome


def test_dispatch_logs_each_batch_and_each_event_needing_attention(capsys):
    configure_json_logging("trackai", "DEBUG")
    try:
        engine._log_outcome(_outcome())
    finally:
        logging.getLogger("trackai").setLevel(logging.INFO)
    entries = _lines(capsys.readouterr().err)
    batch = next(e for e in entries if e["msg"] == "capi batch recorded")
    assert batch["tenant_id"] == "tenant-a" and batch["batch_id"] == "batch-1" and batch["events"] == 3
    assert "sent=2" in batch["outcome"] and "retry=1" in batch["outcome"]
    per_event = {e["event_id"]: e for e in entries if "event_id" in e}
    assert set(per_event) == {"e1", "e2", "e3"}
    assert per_event["e3"]["level"] == "warning" and per_event["e3"]["code"] == 17
    assert all(e["tenant_id"] == "tenant-a" for e in per_event.values())


def test_sentry_reports_an_ingest_crash_without_pii_or_secrets(pg_url, make_tenant, http_receiver):
    tenant, secrets = make_tenant()
    # The Sentry ingest: the shared loopback receiver (bodies arrive decompressed).
    dsn = f"http://publickey@{http_receiver.url.removeprefix('http://')}/42"
    script = textwrap.dedent(
        f"""
        import sentry_sdk
        from fastapi.testclient import TestClient
        from ingest_service.main import create_app

        app = create_app(database_url={pg_url!r})
        async def broken(*args, **kwargs):
            raise RuntimeError("store exploded")
        with TestClient(app, raise_server_exceptions=False) as client:
            app.state.ingest.store.tenant = broken
            response = client.post(
                "/api/v1/webhooks/hotmart/{tenant}",
                content=b'{{"data": {{"buyer": {{"email": "plain.buyer@example.com", "phone": "+5511987654321"}}}}}}',
                headers={{"X-HOTMART-HOTTOK": {secrets["hotmart"]!r}, "Content-Type": "application/json"}},
            )
            print("status", response.status_code)
        sentry_sdk.flush(5)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**_env(), "TRACKAI_DATABASE_URL": pg_url, "SENTRY_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "status 500" in done.stdout, done.stderr[-2000:]
    payload = b"\n".join(r.body for r in http_receiver.received()).decode("utf-8", "replace")
    assert "store exploded" in payload and "RuntimeError" in payload
    assert '"component"' in payload and "ingest" in payload
    for forbidden in ("plain.buyer@example.com", "5511987654321", secrets["hotmart"], "X-HOTMART-HOTTOK"):
        assert forbidden not in payload


def test_sentry_stays_off_without_a_dsn():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trackai.observability import init_sentry; import sys; "
            "print(init_sentry('x', dsn=None, environment='development')); "
            "print('sentry_sdk' in sys.modules)",
        ],
        cwd=REPO_ROOT,
        env={k: v for k, v in _env().items() if k != "SENTRY_DSN"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["False", "False"], done.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("TRACKAI_SENTRY_DSN", "SENTRY_DSN")}
