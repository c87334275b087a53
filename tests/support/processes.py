"""Starting what a test talks to, and waiting for it: one way for child processes (the ingest service, the
console, the ops exporter, the Graph API fake, Dagster's daemon, Prometheus, Alertmanager) and one for an
ASGI app served in a thread.

    with Processes(tmp_path) as procs:
        procs.start("ingest", trackai("serve", "--port", str(port)), env, ready=f"{url}/ready")
        ...                                      # stopped (terminate, then kill) on exit, logs in tmp_path

    with app_server(create_app(...)) as server:  # uvicorn in a thread on a free loopback port
        httpx.get(f"{server.url}/healthz")
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import httpx

from trackai_cli.loopback_server import LoopbackServer

# What a not-yet-listening server raises while it starts.
NOT_READY = (httpx.HTTPError, OSError, StopIteration, KeyError)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy (returned); connection errors count as "not yet".
    Raises AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(*NOT_READY):
            value = check()
            if value:
                return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 5.0) -> Callable[[], bool]:
    """A readiness check: GET ``url`` answers 2xx."""
    return lambda: httpx.get(url, timeout=timeout).is_success


def trackai(*args: str) -> list[str]:
    """argv of the ``trackai`` CLI in this interpreter (``python -m trackai_cli.cli ...``)."""
    return [sys.executable, "-m", "trackai_cli.cli", *args]


class Processes:
    """Child processes of one test, each logging to ``<log_dir>/<name>.log``; ``stop()`` ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.groups: set[str] = set()

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        *,
        ready: str | Callable[[], Any] | None = None,
        timeout: float = 60.0,
        cwd: Path | None = None,
        group: bool = False,
    ) -> subprocess.Popen:
        """Start ``args``; with ``ready`` (a URL that must answer 2xx, or a check) wait until it is ready.
        A process that exits while we wait fails at once with the end of its log. ``group``: its own
        process group, signalled as a whole on stop (a Dagster daemon and the code servers it spawns)."""
        log = open(self.log_path(name), "wb")  # noqa: SIM115 - the child holds its own descriptor
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=group
        )
        log.close()
        self.procs[name] = proc
        if group:
            self.groups.add(name)
        if ready is not None:
            check = http_ok(ready) if isinstance(ready, str) else ready

            def up() -> Any:
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode}: {self.log(name)[-2000:]}")
                return check()

            wait_until(up, f"{name} ready", timeout)
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 600) -> dict[str, str]:
        return {name: self.log(name)[-tail:] for name in self.procs}

    def _signal(self, name: str, sig: signal.Signals) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            if name in self.groups:
                os.killpg(proc.pid, sig)  # the group may outlive its leader
            elif proc.poll() is None:
                proc.send_signal(sig)

    def stop(self, name: str | None = None, timeout: float = 10.0) -> None:
        """Terminate ``name`` (default: all), wait, kill what is left."""
        names = [name] if name else list(self.procs)
        for each in names:
            self._signal(each, signal.SIGTERM)
        for each in names:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.procs[each].wait(timeout=timeout)
            self._signal(each, signal.SIGKILL)
            self.procs[each].wait(timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra`` (a child reads its settings from the environment)."""
    return {**os.environ, **extra}


@contextlib.contextmanager
def app_server(app, port: int | None = None) -> Iterator[LoopbackServer]:
    """Serve a real service's ASGI app (startup and shutdown run) in a thread on 127.0.0.1."""
    server = LoopbackServer(app, port, lifespan="on")
    server.name = "app-server"
    with server:
        yield server
