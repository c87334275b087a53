"""The console in a real browser: Debian's Chromium, headless, driven by Playwright (sync API), against the
app served by uvicorn on a loopback port (conftest.py) over the seeded world. Screenshots land in
.trackai/console-screenshots/ (docs/console.md shows them).

Each page is also checked for the basics of accessibility: one main landmark and one h1, every form
field labelled, every chart titled, every button named, and text contrast of at least 4.5:1 (3:1 for
large text) against its background.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.support.world import PASSWORD, World
from trackai import db
from trackai.dispatch import run_dispatch
from trackai.settings import Settings

A11Y_CHECK = """() => {
  const problems = [];
  if (document.querySelectorAll('main').length !== 1) problems.push('main landmarks: ' + document.querySelectorAll('main').length);
  if (document.querySelectorAll('h1').length !== 1) problems.push('h1 count: ' + document.querySelectorAll('h1').length);
  if (!document.documentElement.lang) problems.push('no lang');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (el.hidden) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!named) problems.push('unlabelled field ' + (el.id || el.name));
  }
  for (const svg of document.querySelectorAll('svg[role=img]')) {
    if (!svg.querySelector('title')) problems.push('chart without title');
  }
  for (const b of document.querySelectorAll('button, a[href]')) {
    if (!(b.textContent.trim() || b.getAttribute('aria-label'))) problems.push('unnamed control');
  }
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
      .reduce((acc, v, i) => acc + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest('svg, .visually-hidden, .skip, option')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.offsetParent === null && style.position !== 'fixed') continue;
    const [l1, l2] = [lum(rgb(style.color)), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && parseInt(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ' for "' + node.textContent.trim().slice(0, 30) + '"');
  }
  return problems;
}"""


@pytest.fixture(scope="module")
def context(browser, console_server):
    ctx = browser.new_context(
        locale="pt-BR", timezone_id="America/Sao_Paulo", viewport={"width": 1280, "height": 900}
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    context.clear_cookies()  # each test starts logged out, whatever the previous one left
    p = context.new_page()
    yield p
    p.close()


def login(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(password)
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_load_state()


def logout(page) -> None:
    page.get_by_role("button", name=re.compile("Sair|Log out")).click()
    page.wait_for_url(re.compile(r"/login"))


def shot(page, directory, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def accessible(page) -> list[str]:
    return page.evaluate(A11Y_CHECK)


def test_login_logout_in_portuguese_by_default(page, console_server, world: World, screenshot_dir) -> None:
    page.goto(console_server.base + "/")
    assert re.search(r"/login\?next=", page.url)
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert accessible(page) == []
    shot(page, screenshot_dir, "login")
    login(page, console_server.base, world.a.email, "wrong password, clearly")
    assert page.get_by_role("alert").inner_text() == "E-mail ou senha incorretos."
    login(page, console_server.base, world.a.email)
    assert page.get_by_role("heading", level=1).inner_text() == "Visão geral"
    assert world.a.name in page.locator("header").inner_text()
    logout(page)
    assert "Você saiu do painel." in page.inner_text("main")
    page.goto(console_server.base + "/purchases")
    assert "/login" in page.url


def test_every_page_with_demo_data(page, console_server, world: World, screenshot_dir) -> None:
    base = console_server.base
    login(page, base, world.a.email)
    pages = {
        "overview": (
            "/",
            "Visão geral",
            ["Compras aprovadas", "Com match", "Enviadas à Meta", "EMQ estimado"],
        ),
        "overview-30-days": ("/?window=30", "Visão geral", ["Compras por dia", "Match por etapa"]),
        "purchases": ("/purchases", "Compras", ["Compras, mais recentes primeiro", "Enviada"]),
        "failures": (
            "/failures",
            "Falhas",
            ["A Meta recusou o evento", "O que fazer", "Reenviar selecionados"],
        ),
        "quality": (
            "/quality",
            "Qualidade do match",
            ["EMQ da Meta", "Eventos com cada chave", "Parte probabilística"],
        ),
        "setup": (
            "/setup",
            "Configuração",
            ["URL do webhook", "PURCHASE_APPROVED", "Script de rastreamento"],
        ),
    }
    for name, (path, title, texts) in pages.items():
        page.goto(base + path)
        assert page.get_by_role("heading", level=1).inner_text() == title
        body = page.inner_text("main")
        assert all(t in body for t in texts), (name, [t for t in texts if t not in body])
        assert accessible(page) == [], name
        shot(page, screenshot_dir, name)
    with psycopg.connect(world.url, autocommit=True) as c:  # a purchase matched to its click by session id
        matched_order, landing_url = c.execute(
            """SELECT m.order_id, m.landing_url FROM core.matches m
                WHERE m.tenant_id = %s AND m.stage = 'deterministic' ORDER BY m.order_id LIMIT 1""",
            (world.a.tenant_id,),
        ).fetchone()
    page.goto(base + "/purchases")
    page.get_by_role("link", name=matched_order).click()
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Pedido {matched_order}")
    journey = page.inner_text("main")
    for step in (
        "1. Webhooks recebidos do gateway",
        "2. Match com o clique do anúncio",
        "3. Envios à Meta",
        "4. Resposta da Meta",
    ):
        assert step in journey
    assert "fbtrace_id" in journey and "R$" in journey and "Determinístico (sessão)" in journey
    assert landing_url in journey and "sessão do snippet" in journey
    click_at = page.locator("dt", has_text="Clique em").locator("xpath=following-sibling::dd").inner_text()
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", click_at), click_at
    assert accessible(page) == []
    shot(page, screenshot_dir, "purchase-journey")
    # money and dates in pt-BR
    page.goto(base + "/")
    assert re.search(r"R\$\s?\d{1,3}(\.\d{3})*,\d{2}", page.inner_text("main"))
    page.goto(base + "/purchases")
    assert re.search(r"\d{2}/\d{2}/\d{4}", page.inner_text("main"))
    logout(page)


def test_search_by_buyer_email_and_phone(page, console_server, world: World) -> None:
    buyer = next(p for p in world.a.purchases if p.phone)
    login(page, console_server.base, world.a.email)
    page.goto(console_server.base + "/purchases")
    page.get_by_label("Buscar por pedido, e-mail ou telefone do comprador").fill(buyer.email)
    page.get_by_role("button", name="Buscar").click()
    page.wait_for_load_state()
    assert "@" not in page.url and "email=" in page.url
    assert page.get_by_role("link", name=buyer.order_id).is_visible()
    assert "Compras do comprador buscado (e-mail)." in page.inner_text("main")
    assert page.get_by_label("Buscar por pedido, e-mail ou telefone do comprador").input_value() == ""
    page.get_by_label("Buscar por pedido, e-mail ou telefone do comprador").fill(buyer.phone)
    page.get_by_role("button", name="Buscar").click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name=buyer.order_id).is_visible()
    page.get_by_label("Envio à Meta").select_option("dlq")
    page.get_by_role("button", name="Filtrar").click()
    page.wait_for_load_state()
    assert "state=dlq" in page.url and "phone=" in page.url  # filters keep the search
    logout(page)


def test_replay_flow_watches_the_event_get_sent(page, console_server, world: World, screenshot_dir) -> None:
    base = console_server.base
    login(page, base, world.a.email)
    page.goto(base + "/failures")
    first_row = page.locator("tbody tr").first
    order = first_row.locator("th a").inner_text()
    first_row.locator("input[name=event_ids]").check()
    page.get_by_role("button", name="Reenviar selecionados").click()
    page.wait_for_url(re.compile(r"/failures/replays/\d+$"))
    assert "Recolocados na fila: 1. Recusados: 0." in page.inner_text("main")
    assert page.locator("td[data-event-state]").inner_text().startswith("Pendente")
    shot(page, screenshot_dir, "replay-pending")
    # the dispatcher's next run (Dagster's in production) sends it to the Graph API fake
    world.fake.configure(reject_event_ids=[])
    with db.connect(world.url) as conn:
        summary = run_dispatch(conn, Settings(meta_graph_url=world.fake.url), sleep=lambda s: None)
    assert summary["sent"] >= 1
    page.wait_for_function(
        "() => document.querySelector('td[data-event-state]').textContent.includes('Enviada')", timeout=15000
    )
    shot(page, screenshot_dir, "replay-sent")
    page.goto(base + "/failures")
    assert order not in page.inner_text("main")  # no longer in the DLQ
    assert "reenviou 1 evento(s)" in page.inner_text("main")
    logout(page)


def test_csrf_is_refused_in_the_browser(page, console_server, world: World, screenshot_dir) -> None:
    base = console_server.base
    login(page, base, world.a.email)
    page.goto(base + "/failures")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'forged')")
    page.get_by_role("button", name="Reenviar selecionados").click()
    page.wait_for_load_state()
    assert "Pedido recusado" in page.inner_text("main")
    shot(page, screenshot_dir, "csrf-refused")
    # a form on another origin posting to the console, with the user's cookie (about:blank: Origin null)
    page.set_content(f'<form method="post" action="{base}/logout"><button>go</button></form>')
    page.click("button")
    page.wait_for_load_state()
    assert "Pedido recusado" in page.inner_text("body")
    page.goto(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Visão geral"  # still logged in
    logout(page)


def test_cross_tenant_is_refused_in_the_browser(page, console_server, world: World, screenshot_dir) -> None:
    a_order = world.a.purchases[1]
    login(page, console_server.base, world.b.email)
    response = page.goto(f"{console_server.base}/purchases/{a_order.gateway}/{a_order.order_id}")
    assert response.status == 404
    assert "Não encontramos esta página" in page.inner_text("main")
    shot(page, screenshot_dir, "cross-tenant-404")
    page.goto(console_server.base + "/purchases")
    body = page.inner_text("main")
    assert a_order.order_id not in body and world.a.name not in page.content()
    logout(page)


def test_english_is_one_click_away(page, console_server, world: World, screenshot_dir) -> None:
    login(page, console_server.base, world.a.email)
    page.get_by_role("button", name=re.compile("English")).click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    text = page.inner_text("main")
    assert "Approved purchases" in text and re.search(r"R\$\d{1,3}(,\d{3})*\.\d{2}", text)
    assert accessible(page) == []
    shot(page, screenshot_dir, "overview-en")
    page.goto(console_server.base + "/failures")
    assert page.get_by_role("heading", level=1).inner_text() == "Failures"
    page.get_by_role("button", name=re.compile("Português")).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Falhas"
    logout(page)


def test_operator_picks_a_tenant(page, console_server, world: World, screenshot_dir) -> None:
    login(page, console_server.base, world.operator_email)
    assert page.url.endswith("/operator/tenants")
    assert accessible(page) == []
    shot(page, screenshot_dir, "operator-tenants")
    page.get_by_role("button", name=f"Ver painel de {world.b.name}").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Visão geral"
    assert world.b.name in page.locator("header").inner_text()
    logout(page)
