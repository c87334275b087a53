"""Starting what a test talks to, and waiting for it: one way for child processes (``Child``: one process
group with its logs; ``Processes``: a test's set of them — the ingest service, the ops exporter, the Graph
API fake, dispatch, Dagster's daemon, Prometheus, Alertmanager) and one for an ASGI app served in a thread.

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

from trackai.settings import REPO_ROOT
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


class Child:
    """One child process in its own process group (``start_new_session``), stdout and stderr in log files
    (``merged``: one file); ``kill(sig)`` signals the whole group (crash tests send SIGKILL), ``stop()``
    terminates it, then kills whatever is left (grandchildren included)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None,
        log_dir: Path,
        *,
        cwd: Path | None = REPO_ROOT,
        merged: bool = False,
    ) -> None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.stdout_path = log_dir / (f"{name}.log" if merged else f"{name}.stdout")
        self.stderr_path = self.stdout_path if merged else log_dir / f"{name}.stderr"
        with contextlib.ExitStack() as files:  # the child keeps its own descriptors
            out = files.enter_context(self.stdout_path.open("wb"))
            err = subprocess.STDOUT if merged else files.enter_context(self.stderr_path.open("wb"))
            self.proc = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 10.0) -> int | None:
        if self.alive():
            self.kill(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        self.kill(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        return self.proc.returncode

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(grace=2)
            raise AssertionError(
                f"{self.name} did not finish within {timeout}s; see {self.stderr_path}"
            ) from None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(grace=5)


class Processes:
    """Child processes of one test (each a ``Child``, output in ``<log_dir>/<name>.log``); ``stop()`` ends
    them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        *,
        ready: str | Callable[[], Any] | None = None,
        timeout: float = 60.0,
        cwd: Path | None = None,
    ) -> subprocess.Popen:
        """Start ``args``; with ``ready`` (a URL that must answer 2xx, or a check) wait until it is ready.
        A process that exits while we wait fails at once with the end of its log. Each child leads its own
        process group, stopped as a whole (a Dagster daemon and the code servers it spawns)."""
        child = Child(name, args, env, self.log_dir, cwd=cwd, merged=True)
        self.children[name] = child
        if ready is not None:
            check = http_ok(ready) if isinstance(ready, str) else ready

            def up() -> Any:
                if not child.alive():
                    raise AssertionError(
                        f"{name} exited with {child.proc.returncode}: {child.stdout()[-2000:]}"
                    )
                return check()

            wait_until(up, f"{name} ready", timeout)
        return child.proc

    def log_path(self, name: str) -> Path:
        return self.children[name].stdout_path

    def log(self, name: str) -> str:
        return self.children[name].stdout()

    def logs(self, tail: int = 600) -> dict[str, str]:
        return {name: child.stdout()[-tail:] for name, child in self.children.items()}

    def stop(self, name: str | None = None, timeout: float = 10.0) -> None:
        """Terminate ``name`` (default: all) with its process group, wait, kill what is left."""
        for child in [self.children[name]] if name else list(self.children.values()):
            child.stop(grace=timeout)

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
