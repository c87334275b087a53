"""The review screen in Chromium: a seller logs in, sees the blocked publish and the GTM diff, approves it
with the button; the approval is recorded with the seller's e-mail. Screenshots go to
.trackai/console-screenshots/provisioning-*.png."""

from __future__ import annotations

import pytest

from console.app import create_app
from tests.support.processes import app_server
from trackai import db
from trackai.console_data.users import ensure_demo_users
from trackai.net import free_port
from trackai.provisioning import saga
from trackai.settings import REPO_ROOT, Settings

SHOTS = REPO_ROOT / ".trackai" / "console-screenshots"
pytestmark = pytest.mark.usefixtures("console_marts")


def test_a_person_approves_the_gtm_diff_in_the_browser(
    browser, pg_url: str, conn, settings, make_tenant
) -> None:
    tenant, _ = make_tenant(name="Loja Revisada")
    login = next(x for x in ensure_demo_users(conn, [tenant]) if x.tenant_id == tenant)
    run_id, _ = saga.request_run(conn, tenant, origin="cli", requested_by="test", settings=settings)
    clients = saga.build_clients(settings)
    try:
        assert saga.run_saga(conn, clients, run_id, settings) == "waiting"
    finally:
        clients.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        Settings(console={"public_url": base}), database_url=db.with_user(pg_url, "trackai_console")
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_server(app, port):
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        try:
            page.goto(f"{base}/login")
            page.fill("input[name=email]", login.email)
            page.fill("input[name=password]", login.password)
            page.click("form[action='/login'] button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/provisioning")
            assert (
                page.locator('#prov-steps tr[data-step="gtm_publish"]').get_attribute("data-state")
                == "blocked"
            )
            assert page.locator("#prov-diff tbody tr").count() >= 10  # every variable, trigger and tag
            assert "evento de teste da CAPI ainda não passou" in page.locator("#prov-blocked").inner_text()
            page.screenshot(path=str(SHOTS / "provisioning-review.png"), full_page=True)
            page.get_by_role("button", name="Aprovar estas mudanças").click()
            page.wait_for_url("**/provisioning?notice=approved_now")
            assert f"Aprovado por {login.email}" in page.locator("#prov-approval").inner_text()
            assert page.get_by_role("button", name="Aprovar estas mudanças").count() == 0
            page.screenshot(path=str(SHOTS / "provisioning-approved.png"), full_page=True)
        finally:
            page.close()
    approved_by, user_id = conn.execute(
        "SELECT approved_by, approved_by_user_id FROM provisioning.approvals WHERE tenant_id = %s", (tenant,)
    ).fetchone()
    assert approved_by == login.email and user_id is not None
