"""An HTTP client logged in to the console, the way a browser is: cookies kept, CSRF token read from the page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from console.app import create_app
from tests.support.world import PASSWORD
from trackai import db
from trackai.settings import Settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(url: str, **console: object):
    settings = Settings(console={"public_url": "http://testserver", **console})
    return create_app(settings, database_url=db.with_user(url, "trackai_console"))


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Browserish:
    """A TestClient session: ``login`` then ``get``/``post`` with the page's CSRF token."""

    def __init__(self, app) -> None:
        self.client = TestClient(app, follow_redirects=False, client=("127.0.0.1", 40000))
        self.csrf = ""

    def __enter__(self) -> Browserish:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def login(self, email: str, password: str = PASSWORD):
        page = self.client.get("/login")
        response = self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.client.get(response.headers["location"], follow_redirects=True).text)
        return response

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict | None = None, **kw):
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kw)
