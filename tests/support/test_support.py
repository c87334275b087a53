"""The shared test helpers do what the suites rely on: the receiver records and answers, a launched process
is waited for, fails fast when it dies, and is stopped; the browser fixture fails in CI instead of skipping."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import browser as browser_support
from tests.support.processes import Processes, app_server, wait_until
from tests.support.receiver import LoopbackReceiver, Reply
from trackai.net import free_port


def test_receiver_records_posts_decoded_and_answers(http_receiver: LoopbackReceiver) -> None:
    answer = httpx.post(f"{http_receiver.url}/hook?x=1", json={"a": 1})
    assert (answer.status_code, answer.json()) == (202, {"status": "success"})
    httpx.post(
        f"{http_receiver.url}/gz",
        content=gzip.compress(b'{"b": 2}'),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    httpx.get(f"{http_receiver.url}/hook")
    assert http_receiver.json_bodies("/hook") == [{"a": 1}]
    assert http_receiver.json_bodies("/gz") == [{"b": 2}]
    assert http_receiver.received("/hook")[0].target == "/hook?x=1"
    assert [r.method for r in http_receiver.received(method=None)] == ["POST", "POST", "GET"]
    assert len(http_receiver.wait_for(2)) == 2
    with pytest.raises(AssertionError, match="3 POST"):
        http_receiver.wait_for(3, timeout=0.2)


def test_receiver_answers_per_request() -> None:
    with LoopbackReceiver(respond=lambda r: Reply(500 if r.path == "/bad" else 200, {"p": r.path})) as fake:
        assert httpx.get(f"{fake.url}/bad").status_code == 500
        assert httpx.get(f"{fake.url}/ok").json() == {"p": "/ok"}


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_processes_wait_for_readiness_and_stop(tmp_path: Path) -> None:
    port = free_port()
    with Processes(tmp_path) as procs:
        proc = procs.start("web", _http_server(port), ready=f"http://127.0.0.1:{port}/", timeout=20)
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    assert proc.poll() is not None
    assert "GET / HTTP" in procs.log("web")


def test_a_process_that_dies_fails_at_once_with_its_log(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    script = "import sys; print('boom: no config'); sys.exit(3)"
    with pytest.raises(AssertionError, match=r"dead exited with 3: boom: no config"):
        procs.start("dead", [sys.executable, "-c", script], ready="http://127.0.0.1:9/", timeout=30)
    procs.stop()


def test_process_group_is_stopped_whole(tmp_path: Path) -> None:
    child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)"
    procs = Processes(tmp_path)
    leader = procs.start("group", [sys.executable, "-c", child], ready=lambda: "up" in procs.log("group"))
    pgid = leader.pid
    procs.stop(timeout=5)

    def alive() -> list[str]:  # members of the group that are not zombies (waiting for their reaper)
        out = subprocess.run(
            ["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True
        ).stdout
        return [line for line in out.splitlines() if line.split() and not line.split()[1].startswith("Z")]

    assert wait_until(lambda: alive() == [], "the group gone", timeout=5)


def test_wait_until_returns_the_value_or_names_what_timed_out() -> None:
    assert wait_until(lambda: 42, "answer", timeout=1) == 42
    with pytest.raises(AssertionError, match="the impossible: not within 0s"):
        wait_until(lambda: False, "the impossible", timeout=0.2, interval=0.05)


def test_app_server_runs_the_apps_startup() -> None:
    started = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    started.append(True)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with app_server(app) as server:
        assert httpx.get(server.url).status_code == 204
    assert started == [True]


@pytest.mark.parametrize(
    ("env", "outcome"),
    [({}, "skipped"), ({"CI": "1"}, "failed"), ({"TRACKAI_REQUIRE_BROWSER": "1"}, "failed")],
)
def test_missing_chromium_skips_locally_and_fails_in_ci(monkeypatch, tmp_path, env, outcome) -> None:
    for name in browser_support.REQUIRE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    expected = pytest.skip.Exception if outcome == "skipped" else pytest.fail.Exception
    with (
        pytest.raises(expected, match="chromium is not installed"),
        browser_support.launch_chromium(tmp_path / "no-chromium"),
    ):
        pass
