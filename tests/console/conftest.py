"""Fixtures of the console tests: the seeded world (tests/console/console_seed.py), the console app served by
uvicorn on a free loopback port (connected as trackai_console), and one headless Chromium per module."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from console_seed import World, build_world

from console.app import create_app
from trackai import db
from trackai.settings import REPO_ROOT, Settings

SCREENSHOTS = REPO_ROOT / ".trackai" / "console-screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def world(pg_url: str) -> Iterator[World]:
    seeded = build_world(pg_url)
    try:
        yield seeded
    finally:
        seeded.fake.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsoleServer:
    """The console app under uvicorn in a thread (the way `trackai console` serves it)."""

    def __init__(self, url: str, **settings: object) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        values = {"console": {"public_url": self.base, "refresh_seconds": 2}, **settings}
        self.settings = Settings(**values)
        self.app = create_app(self.settings, database_url=db.with_user(url, "trackai_console"))
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ConsoleServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def console_server(world: World) -> Iterator[ConsoleServer]:
    with ConsoleServer(world.url) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
