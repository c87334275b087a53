"""Setup: the wizard (issue 16) that walks the six setup tools with live progress and says why a step is
blocked; below it the webhook URL of each gateway (copy buttons) with the events to enable and its secret
status, the tracking snippet per checkout platform, and the Meta pixel and token status. Secrets are never
shown: only whether one is stored and when it changed.

The wizard runs a step through ``trackai.setup.runner.run_tool`` — the same code as ``trackai setup`` and
the MCP server — on a connection of its own (TRACKAI_SETUP_DATABASE_URL, else the main one: the tools read
the tenant's token and record dispatch attempts, which the console role may not), always for the tenant of
the session. Everything it shows (step states, transcript, support case) is read as trackai_console under
row-level security. A step runs in a background thread; the page polls a fragment until it is done.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from console import queries, setup_guide, web
from console.i18n import _m
from trackai import db as trackai_db
from trackai import tenants
from trackai.core import setup_wizard
from trackai.core.setup_snippet import PLATFORMS
from trackai.core.setup_specs import TOOL_SPECS
from trackai.core.setup_webhook import GATEWAY_NAMES

router = APIRouter()
PLATFORM_GATEWAYS = ("hotmart", "kiwify", "perfectpay", "stripe")

# The wizard's texts, both languages, registered in console.i18n below (the tools' answers carry their own
# pt-BR/English texts).
TEXTS: dict[str, tuple[str, str]] = {
    "wizard.title": ("Assistente de configuração", "Setup assistant"),
    "wizard.intro": (
        "Siga os passos na ordem. Cada resposta diz o que vimos e o que fazer em seguida.",
        "Follow the steps in order. Each answer says what we saw and what to do next.",
    ),
    "wizard.step.generate_tracking_snippet": ("Script de rastreamento", "Tracking script"),
    "wizard.step.validate_meta_token": ("Token da Meta", "Meta token"),
    "wizard.step.validate_gateway_webhook": ("Webhook do gateway", "Gateway webhook"),
    "wizard.step.probe_landing_url": ("Página do anúncio (redirecionamentos)", "Ad landing page (redirects)"),
    "wizard.step.check_pixel_presence": ("Pixel e script na página", "Pixel and script on the page"),
    "wizard.step.send_test_capi_event": ("Evento de teste na Meta", "Test event at Meta"),
    "wizard.state.todo": ("a fazer", "to do"),
    "wizard.state.pass": ("ok", "passed"),
    "wizard.state.warn": ("ok, com aviso", "passed with a warning"),
    "wizard.state.fail": ("falhou", "failed"),
    "wizard.state.blocked": ("bloqueado", "blocked"),
    "wizard.state.running": ("em andamento…", "running…"),
    "wizard.blocked_by": (
        "Bloqueado até o passo {n} passar: {why}.",
        "Blocked until step {n} passes: {why}.",
    ),
    "wizard.run": ("Executar", "Run"),
    "wizard.run_again": ("Executar de novo", "Run again"),
    "wizard.observed": ("O que vimos", "What we saw"),
    "wizard.next": ("O que fazer", "What to do"),
    "wizard.code": ("código", "code"),
    "wizard.url": ("URL da página do anúncio", "Ad landing page URL"),
    "wizard.gateway": ("Gateway", "Gateway"),
    "wizard.wait": ("Esperar o envio de teste (segundos)", "Wait for the test delivery (seconds)"),
    "wizard.test_code": ("Código de teste (Eventos de teste)", "Test event code (Test events)"),
    "wizard.platform": ("Plataforma", "Platform"),
    "wizard.snippet": ("Script", "Script"),
    "wizard.support": (
        "Este passo falhou {n} vezes seguidas: abrimos o chamado #{case} e uma pessoa da equipe Track AI vai "
        "entrar em contato com você. Você pode continuar tentando enquanto isso.",
        "This step failed {n} times in a row: we opened case #{case} and a person from the Track AI team will "
        "contact you. You may keep trying meanwhile.",
    ),
    "wizard.transcript": ("Histórico de chamadas", "Call history"),
    "wizard.transcript.intro": (
        "Cada execução de um passo, por você, pela equipe ou por um agente de IA.",
        "Every run of a step, by you, by the team or by an AI agent.",
    ),
    "wizard.transcript.none": ("Nenhuma chamada ainda.", "No calls yet."),
    "wizard.col.when": ("Quando", "When"),
    "wizard.col.who": ("Quem", "Who"),
    "wizard.col.step": ("Passo", "Step"),
    "wizard.col.result": ("Resultado", "Result"),
    "wizard.col.message": ("Mensagem", "Message"),
    "wizard.actor.seller": ("lojista", "seller"),
    "wizard.actor.operator": ("equipe", "team"),
    "wizard.actor.agent": ("agente de IA", "AI agent"),
    "wizard.all_steps": ("todos os passos", "all steps"),
    "wizard.filter": ("Filtrar", "Filter"),
    "wizard.back": ("Voltar ao assistente", "Back to the assistant"),
}


for _key, (_pt, _en) in TEXTS.items():
    _m(_key, _pt, _en)


def _texts(request: Request):
    """``tx('key', n=1)`` in the wizard templates: the console's translator in the request's language."""
    return web.translator(request).t


# ----------------------------------------------------------------------------------------- running steps
@dataclass
class Job:
    job_id: str
    tenant_id: str
    tool: str
    started_at: datetime
    done: bool = False
    error: str | None = None
    result: dict[str, Any] | None = None


@dataclass
class Jobs:
    """Steps running in this console process, per tenant (the page polls until they are done)."""

    items: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self, tenant_id: str) -> dict[str, Job]:
        with self.lock:
            return {j.tool: j for j in self.items.values() if j.tenant_id == tenant_id and not j.done}

    def add(self, job: Job) -> None:
        with self.lock:
            self.items = {k: v for k, v in self.items.items() if not v.done or v.tenant_id != job.tenant_id}
            self.items[job.job_id] = job


JOBS = Jobs()


def _run(job: Job, settings: Any, arguments: dict[str, Any], actor: str, label: str) -> None:
    from trackai.setup.runner import run_tool
    from trackai.setup.tools import SetupInputError

    url = settings.setup.database_url or trackai_db.database_url(settings)
    try:
        with trackai_db.connect(url) as conn:
            job.result = run_tool(conn, settings, job.tool, arguments, actor=actor, actor_label=label)
    except SetupInputError as exc:
        job.error = str(exc)
    except Exception as exc:  # shown on the page; the transcript has nothing of a crashed step
        job.error = f"{type(exc).__name__}"
    finally:
        job.done = True


def _latest(conn: Any, tenant_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        """SELECT DISTINCT ON (tool) tool, status, code, outputs, created_at, entry_id FROM setup.transcript
            WHERE tenant_id = %s ORDER BY tool, created_at DESC, entry_id DESC""",
        (tenant_id,),
    ).fetchall()
    return {r["tool"]: r for r in rows}


def _wizard_context(request: Request, tenant_id: str) -> dict[str, Any]:
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        latest = _latest(conn, tenant_id)
        streaks = {
            r["tool"]: r["consecutive_failures"]
            for r in conn.execute(
                "SELECT tool, consecutive_failures FROM setup.step_streaks WHERE tenant_id = %s", (tenant_id,)
            ).fetchall()
        }
        cases = {
            r["tool"]: r["case_id"]
            for r in conn.execute(
                "SELECT tool, case_id FROM setup.support_cases WHERE tenant_id = %s AND closed_at IS NULL",
                (tenant_id,),
            ).fetchall()
        }
    states = setup_wizard.steps({tool: row["status"] for tool, row in latest.items()})
    running = JOBS.running(tenant_id)
    lang = "pt-BR" if web.translator(request).locale == "pt-BR" else "en"
    return {
        "steps": [
            {
                "state": st,
                "spec": TOOL_SPECS[st.tool],
                "latest": latest.get(st.tool),
                "running": st.tool in running,
                "failures": streaks.get(st.tool, 0),
                "case_id": cases.get(st.tool),
                "blocked_number": setup_wizard.STEPS.index(st.blocked_by) + 1 if st.blocked_by else None,
            }
            for st in states
        ],
        "lang": lang,
        "any_running": bool(running),
        "wizard_gateways": list(GATEWAY_NAMES.items()),
        "platforms": [(p, v[0]) for p, v in PLATFORMS.items()],
        "tx": _texts(request),
        "now": datetime.now(UTC),
    }


@router.get("/setup")
def setup(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        account = queries.tenant_setup(conn, tenant_id)
        rejections = queries.webhook_rejections(conn, tenant_id)
    base = s.settings.public_base_url.rstrip("/")
    snippet_src = f"{base}/api/v1/snippet/{tenant_id}.js"
    snippets = [(None, f'<script async src="{snippet_src}"></script>')] + [
        (p, f'<script async src="{snippet_src}?platform={p}"></script>') for p in PLATFORM_GATEWAYS
    ]
    events = setup_guide.events_to_enable()
    changed = {
        k: datetime.fromisoformat(v) for k, v in ((account or {}).get("secrets_updated_at") or {}).items()
    }
    gateways = [
        {
            "gateway": g,
            "url": tenants.webhook_url(tenant_id, g, s.settings),
            "events": events[g],
            "secret_updated_at": changed.get(g),
            "rejections": [r for r in rejections if r["gateway"] == g],
        }
        for g in tenants.GATEWAYS
    ]
    return web.render(
        request,
        "setup.html",
        nav="setup",
        account=account,
        gateways=gateways,
        snippets=snippets,
        meta_token_at=changed.get("meta_token"),
        **_wizard_context(request, tenant_id),
    )


@router.get("/setup/wizard/live")
def wizard_live(request: Request, tool: str) -> Response:
    """One step's state and latest answer (polled while the page is open)."""
    _, tenant_id = web.require_tenant(request)
    context = _wizard_context(request, tenant_id)
    step = next((st for st in context["steps"] if st["state"].tool == tool), None)
    if step is None:
        raise HTTPException(404)
    return web.render(request, "_setup_step.html", step=step, **context)


@router.post("/setup/run/{tool}")
async def run_step(request: Request, tool: str) -> Response:
    form = await web.check_csrf(request)
    user, tenant_id = web.require_tenant(request)
    if tool not in TOOL_SPECS:
        raise HTTPException(404)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        latest = {t: row["status"] for t, row in _latest(conn, tenant_id).items()}
    if setup_wizard.blocked(latest, tool) is not None:
        return RedirectResponse(f"/setup#step-{tool}", status_code=303)  # the page says why
    if tool in JOBS.running(tenant_id):
        return RedirectResponse(f"/setup#step-{tool}", status_code=303)
    arguments: dict[str, Any] = {"tenant_id": tenant_id}
    for key in TOOL_SPECS[tool].properties:
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            arguments[key] = value.strip()[:2000]
    from trackai.setup.runner import check_inputs
    from trackai.setup.tools import SetupInputError

    try:
        check_inputs(tool, arguments)
    except SetupInputError as exc:
        raise web.BadRequest(str(exc)) from exc
    job = Job(uuid.uuid4().hex, tenant_id, tool, datetime.now(UTC))
    JOBS.add(job)
    actor = "operator" if user.is_operator else "seller"
    thread = threading.Thread(
        target=_run, args=(job, s.settings, arguments, actor, user.user_id), name=f"setup-{tool}", daemon=True
    )
    thread.start()
    return RedirectResponse(f"/setup#step-{tool}", status_code=303)


@router.get("/setup/transcript")
def transcript_page(request: Request, tool: str | None = None) -> Response:
    _, tenant_id = web.require_tenant(request)
    if tool is not None and tool not in TOOL_SPECS:
        tool = None
    s = web.state(request)
    sql = """SELECT entry_id, tool, actor, status, code, outputs, event_id, created_at FROM setup.transcript
              WHERE tenant_id = %s"""
    params: list[Any] = [tenant_id]
    if tool:
        sql += " AND tool = %s"
        params.append(tool)
    with s.database.tenant_tx(tenant_id) as conn:
        rows = conn.execute(sql + " ORDER BY created_at DESC, entry_id DESC LIMIT 200", params).fetchall()
    return web.render(
        request,
        "setup_transcript.html",
        nav="setup",
        rows=rows,
        tool=tool,
        tools=list(TOOL_SPECS),
        tx=_texts(request),
        lang="pt-BR" if web.translator(request).locale == "pt-BR" else "en",
    )
