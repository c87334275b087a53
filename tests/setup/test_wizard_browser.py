"""The console wizard walked in Chromium (the shared ``browser`` fixture: Playwright driving Debian's
/usr/bin/chromium, tests/support/browser.py): steps in order with live
progress, blocked steps saying why, three failures → the seller is told a person will contact them (and the
loopback support webhook receives exactly one case), the transcript page, English switch. Plus the HTTP
guards: CSRF, another tenant's session sees none of this tenant's transcript (row-level security)."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from console.app import create_app
from dagster_project.lib import dbt_runner
from tests.setup.conftest import PIXEL
from tests.setup.receiver import support_cases
from tests.support.receiver import LoopbackReceiver
from trackai import db
from trackai.console_data import users
from trackai.net import free_port
from trackai.settings import REPO_ROOT, Settings
from trackai.setup import runner
from trackai_cli.setup_fakes.landing import LandingFake

PASSWORD = "correct horse battery staple"
SHOTS = REPO_ROOT / ".trackai" / "setup-screenshots"
pytestmark = pytest.mark.integration


class Served:
    def __init__(self, app, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "console did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def world(pg_url, graph):
    with db.connect(pg_url) as conn:
        from trackai import tenants

        seller = tenants.create_tenant(conn, name="Loja Wizard", pixel_id=PIXEL, meta_token="tok-" + PIXEL)
        other = tenants.create_tenant(
            conn, name="Outra Loja", pixel_id="998877665544", meta_token="tok-other"
        )
        users.create_user(conn, email="wizard@example.com", tenant_id=seller, password=PASSWORD)
        users.create_user(conn, email="other@example.com", tenant_id=other, password=PASSWORD)
    with tempfile.TemporaryDirectory() as target:
        dbt_runner.build(pg_url, select="path:models/marts/console", target_path=Path(target), capture=True)
    return {"seller": seller, "other": other}


@pytest.fixture(scope="module")
def receiver():
    with LoopbackReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def console(pg_url, graph, receiver, world):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACKAI_ALERT_WEBHOOK_URL", f"{receiver.url}/hook")
        from trackai.settings import reset_settings_cache

        reset_settings_cache()
        settings = Settings(
            console={"public_url": base, "refresh_seconds": 2},
            meta_graph_url=graph.url,
            public_base_url="https://track.example.com.br",
            capi={"timeout_seconds": 1.0},
            setup={"probe_timeout_seconds": 3.0},
        )
        app = create_app(settings, database_url=db.with_user(pg_url, "trackai_console"))
        with Served(app, port):
            yield base, app
        reset_settings_cache()


@pytest.fixture(scope="module")
def site(world):
    with LandingFake(PIXEL, world["seller"], "https://track.example.com.br") as fake:
        yield fake


def login(page, base, email="wizard@example.com"):
    page.goto(base + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_load_state()


def step(page, tool):
    return page.locator(f"#step-{tool}")


def run_step(page, tool, expect_state: str, **fields):
    box = step(page, tool)
    for name, value in fields.items():
        field = box.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    box.get_by_role("button", name=re.compile("Executar")).click()
    page.wait_for_load_state()
    # live progress: the step's fragment is polled until its answer arrives
    step(page, tool).locator(f'[data-step-state="{expect_state}"]').wait_for(timeout=30_000)


def test_wizard_walked_in_chromium(browser, console, world, graph, site, receiver, pg_url):
    base, _ = console
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    login(page, base)
    page.goto(base + "/setup")
    assert page.get_by_role("heading", name="Assistente de configuração").is_visible()
    # blocked steps explain why
    blocked = step(page, "send_test_capi_event").locator(".blocked-why")
    assert (
        "Bloqueado até o passo 2 passar" in blocked.inner_text() and "token da Meta" in blocked.inner_text()
    )
    assert "passo 4" in step(page, "check_pixel_presence").locator(".blocked-why").inner_text()
    page.screenshot(path=str(SHOTS / "wizard-start.png"), full_page=True)

    run_step(page, "generate_tracking_snippet", "pass", platform="wordpress")
    snippet = step(page, "generate_tracking_snippet").locator("textarea").input_value()
    assert world["seller"] in snippet and "Elementor" in step(page, "generate_tracking_snippet").inner_text()

    # three failures of the token step: a person is called in, once
    graph.configure(revoked_tokens=["tok-" + PIXEL])
    for _ in range(3):
        run_step(page, "validate_meta_token", "fail")
    alert = step(page, "validate_meta_token").get_by_role("alert")
    alert.wait_for(timeout=15_000)
    assert "uma pessoa da equipe Track AI vai entrar em contato" in alert.inner_text()
    assert "Usuários do sistema" in step(page, "validate_meta_token").inner_text()
    page.reload()  # the account card reads the same verdict as the wizard
    assert "inválido" in page.locator("section[aria-labelledby=account-title]").inner_text()
    page.screenshot(path=str(SHOTS / "wizard-support-case.png"), full_page=True)
    cases = support_cases(receiver)
    assert len(cases) == 1 and cases[0]["details"]["step"] == "validate_meta_token"
    assert cases[0]["details"]["tenant_id"] == world["seller"]

    graph.configure(revoked_tokens=[])
    run_step(page, "validate_meta_token", "pass")
    assert step(page, "validate_meta_token").get_by_role("alert").count() == 0
    page.reload()
    assert step(page, "send_test_capi_event").locator(".blocked-why").count() == 0  # unblocked
    assert "válido (verificado em" in page.locator("section[aria-labelledby=account-title]").inner_text()

    run_step(page, "probe_landing_url", "fail", url=f"{site.url}/redirect-drop?fbclid=IwAR2xyz")
    assert "descarta fbclid" in step(page, "probe_landing_url").inner_text()
    run_step(page, "probe_landing_url", "pass", url=f"{site.url}/redirect-keep?fbclid=IwAR2xyz&utm_source=fb")
    page.reload()
    run_step(page, "check_pixel_presence", "pass", url=f"{site.url}/good")
    run_step(page, "validate_gateway_webhook", "fail", gateway="stripe")
    assert "Desenvolvedores → Webhooks" in step(page, "validate_gateway_webhook").inner_text()
    run_step(page, "send_test_capi_event", "pass", test_event_code="TEST2026")
    assert "A Meta recebeu o evento de teste" in step(page, "send_test_capi_event").inner_text()
    page.screenshot(path=str(SHOTS / "wizard-done.png"), full_page=True)

    page.get_by_role("link", name="Histórico de chamadas").click()
    page.wait_for_load_state()
    rows = page.locator("table.transcript tbody tr")
    assert rows.count() == 10
    assert "lojista" in rows.first.inner_text() and "TEST2026" in rows.first.inner_text()
    page.screenshot(path=str(SHOTS / "wizard-transcript.png"), full_page=True)

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    page.goto(base + "/setup")
    assert page.get_by_role("heading", name="Setup assistant").is_visible()
    assert "Meta received the test event" in step(page, "send_test_capi_event").inner_text()
    page.close()


def test_http_guards_and_isolation(console, world, pg_url, graph):
    base, app = console
    with db.connect(pg_url) as conn:  # something in the other tenant's transcript too
        runner.run_tool(
            conn,
            Settings(meta_graph_url=graph.url),
            "generate_tracking_snippet",
            {"tenant_id": world["other"], "platform": "html"},
            actor="agent",
        )
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post(
            "/login",
            data={"email": "other@example.com", "password": PASSWORD, "csrf_token": csrf, "next": "/"},
            headers={"origin": base},
        )
        listing = client.get("/setup/transcript")
        assert listing.status_code == 200
        idx = listing.text.find(world["seller"])
        assert idx == -1, listing.text[max(0, idx - 300) : idx + 100]
        assert listing.text.count("<tr data-entry") == 1  # only its own agent call
        assert "agente de IA" in listing.text and ">lojista<" not in listing.text
        refused = client.post("/setup/run/validate_meta_token", data={}, headers={"origin": base})
        assert refused.status_code == 403
        assert client.get("/setup/wizard/live?tool=nope").status_code == 404
