"""Fixtures of the console tests: the seeded world (tests/support/world.py), the console app served by
uvicorn on a free loopback port (connected as trackai_console); Chromium is the shared ``browser`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from console.app import create_app
from tests.support.processes import app_server
from tests.support.world import World, build_world
from trackai import db
from trackai.net import free_port
from trackai.settings import REPO_ROOT, Settings

SCREENSHOTS = REPO_ROOT / ".trackai" / "console-screenshots"


@pytest.fixture(scope="module")
def world(pg_url: str) -> Iterator[World]:
    seeded = build_world(pg_url)
    try:
        yield seeded
    finally:
        seeded.fake.stop()


class ConsoleServer:
    """The console app under uvicorn in a thread (the way `trackai console` serves it)."""

    def __init__(self, url: str, **settings: object) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        values = {"console": {"public_url": self.base, "refresh_seconds": 2}, **settings}
        self.settings = Settings(**values)
        self.app = create_app(self.settings, database_url=db.with_user(url, "trackai_console"))
        self._served = app_server(self.app, self.port)

    def __enter__(self) -> ConsoleServer:
        self._served.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.__exit__(*exc)


@pytest.fixture(scope="module")
def console_server(world: World) -> Iterator[ConsoleServer]:
    with ConsoleServer(world.url) as server:
        yield server


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
