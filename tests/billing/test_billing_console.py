"""The console's plan & usage page and quota banner, as the console role (RLS), pt-BR first then English;
another tenant's seller sees only its own numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster_project.lib import dbt_runner
from tests.billing.helpers import ensure_plans, subscribe
from tests.console.console_client import Browserish, console_app, csrf_of
from tests.support import rows
from trackai.billing import ledger
from trackai.console_data.users import ensure_demo_users
from trackai.core.event_id import event_id as make_event_id


def _seller(conn, tenant_id: str):
    return next(x for x in ensure_demo_users(conn, [tenant_id]) if x.tenant_id == tenant_id)


def _login(web: Browserish, email: str, password: str) -> int:
    """Log in straight to /billing (the overview reads dbt marts this module does not build)."""
    page = web.client.get("/login")
    response = web.client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/billing"},
    )
    web.csrf = csrf_of(web.client.get("/billing").text)
    return response.status_code


def test_billing_page_banner_and_isolation(pg_url, conn, make_tenant, tmp_path) -> None:
    dbt_runner.build(pg_url, select="+path:models/marts/console", target_path=tmp_path, capture=True)
    ensure_plans(conn)
    full, _ = make_tenant("Billing Full")
    calm, _ = make_tenant("Billing Calm")
    now = datetime.now(UTC)
    subscribe(conn, full, "tiny-block", now - timedelta(days=40))
    subscribe(conn, calm, "small-block", now - timedelta(days=40))
    with conn.transaction():
        ledger.record_accepted(conn, [(full, make_event_id(full, f"f{i}"), now) for i in range(5)], now=now)
        ledger.record_accepted(conn, [(calm, make_event_id(calm, "c0"), now)], now=now)
    rows.dlq(conn, full, 2, reason="quota")  # held at the quota past Meta's window
    app = console_app(pg_url)
    with Browserish(app) as web:
        seller = _seller(conn, full)
        assert _login(web, seller.email, seller.password) == 303
        page = web.get("/billing")
        assert page.status_code == 200, page.text[:500]
        html = page.text
        assert 'lang="pt-BR"' in html and "Plano e uso" in html
        assert '<progress id="usage-bar"' in html and 'max="5" value="5"' in html
        assert "5 de 5 eventos faturáveis" in html and "Franquia atingida" in html
        assert "R$\xa09,90" in html  # base fee, Brazilian format
        assert "80% da franquia" in html and "100% da franquia" in html  # history
        # the banner on another page
        other = web.get("/quality").text
        assert "billing-banner" in other and "Franquia do mês atingida" in other
        # the failures page counts the DLQ's quota reason with its words
        failures = web.get("/failures").text
        assert 'data-kpi="dlq-quota">2<' in failures and "Retida pela franquia" in failures
        # English
        web.post("/lang", {"lang": "en", "next": "/billing"})
        english = web.get("/billing").text
        assert "Plan &amp; usage" in english and "5 of 5 billable events" in english
    with Browserish(console_app(pg_url)) as web:
        seller = _seller(conn, calm)
        _login(web, seller.email, seller.password)
        html = web.get("/billing").text
        assert "1 de 20 eventos faturáveis" in html and "billing-banner" not in html
        assert "5 de 5" not in html
