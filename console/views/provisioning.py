"""Provisioning (issue 17, docs/provisioning.md): the tenant's tracking domain, Stape server container and
GTM web container; the latest run's steps; the review screen where a person approves the GTM workspace
diff before it can be published; the thank-you snippet and the GTM loader from the first-party host.

The console only records requests and approvals (row-level security binds both to the request's tenant);
Dagster's ``provisioning_request_sensor`` runs the saga."""

from __future__ import annotations

import uuid

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console import web
from console.i18n import _m
from trackai.core.thankyou_snippet import gtm_loader, render_thankyou_snippet
from trackai.provisioning import saga
from trackai.provisioning.errors import ProvisionError
from trackai.setup import gates

router = APIRouter()

_m("nav.provisioning", "Provisionamento", "Provisioning")
_m("prov.title", "Provisionamento do rastreamento", "Tracking provisioning")
_m(
    "prov.intro",
    "Criamos para a sua loja um domínio próprio de rastreamento na Cloudflare, um contêiner de servidor na "
    "Stape e um contêiner web no Google Tag Manager. O GTM só é publicado depois do evento de teste e da sua "
    "aprovação.",
    "We create your store's own tracking domain on Cloudflare, a Stape server container and a Google Tag "
    "Manager web container. GTM is published only after the test event and your approval.",
)
_m("prov.what", "O que existe", "What exists")
_m("prov.host", "Domínio de rastreamento", "Tracking domain")
_m("prov.server_url", "URL do servidor de tagueamento", "Tagging server URL")
_m("prov.stape", "Contêiner Stape", "Stape container")
_m("prov.gtm", "Contêiner GTM", "GTM container")
_m("prov.published", "Versão publicada", "Published version")
_m("prov.none", "ainda não", "not yet")
_m("prov.start", "Iniciar provisionamento", "Start provisioning")
_m(
    "prov.started",
    "Pedido registrado: o provisionamento começa em até um minuto.",
    "Requested: provisioning starts within a minute.",
)
_m("prov.already", "Já existe um provisionamento em andamento.", "A provisioning run is already in progress.")
_m("prov.run", "Execução", "Run")
_m("prov.run_state", "Estado: {state}", "State: {state}")
_m("prov.steps", "Etapas", "Steps")
_m("prov.col.step", "Etapa", "Step")
_m("prov.col.state", "Estado", "State")
_m("prov.col.attempts", "Tentativas", "Attempts")
_m("prov.col.ids", "IDs externos", "External ids")
_m("prov.col.error", "Erro / motivo", "Error / reason")
_m("prov.no_run", "Nenhum provisionamento ainda.", "No provisioning yet.")
_m("prov.gate", "Evento de teste (CAPI)", "Test event (CAPI)")
_m("prov.gate.ok", "passou em {when}", "passed at {when}")
_m(
    "prov.gate.missing",
    "ainda não passou — rode o teste no assistente de configuração",
    "not passed yet — run it in the setup assistant",
)
_m("prov.review", "Revisão do GTM", "GTM review")
_m(
    "prov.review.intro",
    "Estas são as mudanças do workspace que serão publicadas. Aprove somente se conferiu cada uma.",
    "These are the workspace changes that will be published. Approve only after checking each one.",
)
_m("prov.col.kind", "Tipo", "Kind")
_m("prov.col.name", "Nome", "Name")
_m("prov.col.change", "Mudança", "Change")
_m("prov.approve", "Aprovar estas mudanças", "Approve these changes")
_m("prov.approved", "Aprovado por {who} em {when}", "Approved by {who} at {when}")
_m(
    "prov.approved_now",
    "Aprovação registrada. A publicação segue assim que o evento de teste tiver passado.",
    "Approval recorded. Publishing follows once the test event has passed.",
)
_m(
    "prov.nothing_to_review",
    "Nada para revisar ainda (o workspace do GTM não foi montado).",
    "Nothing to review yet (the GTM workspace is not built).",
)
_m("prov.snippets", "Códigos", "Snippets")
_m("prov.card.title", "Domínio de rastreamento e GTM", "Tracking domain and GTM")
_m(
    "prov.card.none",
    "Ainda não provisionado: crie o domínio de rastreamento, o contêiner Stape e o GTM em Provisionamento.",
    "Not provisioned yet: create the tracking domain, the Stape container and GTM under Provisioning.",
)
_m("prov.card.open", "Abrir o provisionamento", "Open provisioning")
_m(
    "prov.snippet.thankyou",
    "Página de obrigado (Purchase com o mesmo event_id do servidor)",
    "Thank-you page (Purchase with the server's event_id)",
)
_m(
    "prov.snippet.gtm",
    "Todas as páginas: GTM pelo seu domínio de rastreamento",
    "Every page: GTM from your tracking domain",
)
_m(
    "prov.blocked.test_event_missing",
    "Publicação aguardando: o evento de teste da CAPI ainda não passou. Rode-o no assistente de configuração.",
    "Publish waiting: the test CAPI event has not passed yet. Run it in the setup assistant.",
)
_m(
    "prov.blocked.approval_missing",
    "Publicação aguardando: ninguém aprovou as mudanças do GTM abaixo.",
    "Publish waiting: nobody approved the GTM changes below.",
)
_m(
    "prov.blocked.diff_changed",
    "Publicação aguardando: o workspace do GTM mudou depois da aprovação; revise e aprove de novo.",
    "Publish waiting: the GTM workspace changed after the approval; review and approve again.",
)
for _state, _pt, _en in (
    ("requested", "pedido", "requested"),
    ("running", "em andamento", "running"),
    ("waiting", "aguardando", "waiting"),
    ("succeeded", "concluído", "succeeded"),
    ("failed", "falhou", "failed"),
    ("rolling_back", "desfazendo", "rolling back"),
    ("rolled_back", "desfeito", "rolled back"),
    ("pending", "pendente", "pending"),
    ("done", "feito", "done"),
    ("blocked", "bloqueado", "blocked"),
    ("compensating", "desfazendo", "undoing"),
    ("compensated", "desfeito", "undone"),
):
    _m(f"prov.state.{_state}", _pt, _en)
for _step, _pt, _en in (
    ("cloudflare_dns", "Cloudflare: registro CNAME", "Cloudflare: CNAME record"),
    ("stape_container", "Stape: contêiner de servidor", "Stape: server container"),
    ("gtm_container", "GTM: contêiner web", "GTM: web container"),
    ("gtm_workspace", "GTM: variáveis, acionadores e tags", "GTM: variables, triggers and tags"),
    ("gtm_publish", "GTM: publicação", "GTM: publish"),
):
    _m(f"prov.step.{_step}", _pt, _en)


def _context(conn: psycopg.Connection, tenant_id: str) -> dict:
    track = saga.tracking(conn, tenant_id)
    run = conn.execute(
        "SELECT * FROM provisioning.runs WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1", (tenant_id,)
    ).fetchone()
    steps = saga.step_rows(conn, str(run["run_id"])) if run else []
    workspace = next((s for s in steps if s["step"] == "gtm_workspace" and s["state"] == "done"), None)
    publish = next((s for s in steps if s["step"] == "gtm_publish"), None)
    approval = (
        saga.latest_approval(conn, tenant_id, workspace["external_ids"]["workspace_path"])
        if workspace
        else None
    )
    fingerprint = workspace["details"].get("fingerprint") if workspace else None
    return {
        "track": track,
        "run": run,
        "steps": steps,
        "review": workspace["details"].get("diff", []) if workspace else None,
        "approval": approval,
        "approved_current": bool(approval and approval["diff_fingerprint"] == fingerprint),
        "can_approve": bool(
            workspace
            and (publish is None or publish["state"] != "done")
            and run["state"] in ("waiting", "running")
        ),
        "gate": gates.latest_pass(conn, tenant_id),
    }


def setup_card(request: Request) -> dict | None:
    """What the setup page shows of provisioning (a Jinja global, ``provisioning_card(request)``): the
    tracking domain, tagging server URL, GTM id, the latest run's state and, once published, the GTM loader
    from the tenant's first-party host."""
    user = web.optional_user(request)
    tenant_id = user.tenant_in_view if user else None
    if not tenant_id:
        return None
    with web.state(request).database.tenant_tx(tenant_id) as conn:
        track = saga.tracking(conn, tenant_id) or {}
        run = conn.execute(
            "SELECT state FROM provisioning.runs WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1",
            (tenant_id,),
        ).fetchone()
    published = bool(
        track.get("published_version_id") and track.get("tagging_server_url") and track.get("gtm_public_id")
    )
    return {
        "track": track,
        "run_state": run["state"] if run else None,
        "loader": gtm_loader(track["tagging_server_url"], track["gtm_public_id"]) if published else None,
        "thankyou": f"<script>\n{render_thankyou_snippet(tenant_id)}</script>",
    }


@router.get("/provisioning")
def provisioning(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        context = _context(conn, tenant_id)
    track = context["track"] or {}
    loader = None
    if track.get("published_version_id") and track.get("tagging_server_url") and track.get("gtm_public_id"):
        loader = gtm_loader(track["tagging_server_url"], track["gtm_public_id"])
    return web.render(
        request,
        "provisioning.html",
        nav="provisioning",
        notice=request.query_params.get("notice"),
        thankyou=f"<script>\n{render_thankyou_snippet(tenant_id)}</script>",
        loader=loader,
        **context,
    )


@router.post("/provisioning/start")
async def start(request: Request) -> Response:
    await web.check_csrf(request)
    user, tenant_id = web.require_tenant(request)
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        open_run = saga.open_run(conn, tenant_id)
        if open_run is None:
            conn.execute(
                "INSERT INTO provisioning.runs (tenant_id, origin, requested_by) VALUES (%s, 'console', %s) "
                "ON CONFLICT DO NOTHING",
                (tenant_id, user.email),
            )
    return RedirectResponse(f"/provisioning?notice={'already' if open_run else 'started'}", status_code=303)


@router.post("/provisioning/approve")
async def approve(request: Request) -> Response:
    form = await web.check_csrf(request)
    user, tenant_id = web.require_tenant(request)
    try:
        run_id = str(uuid.UUID(str(form.get("run_id", ""))))
    except ValueError as exc:
        raise web.BadRequest("run_id") from exc
    s = web.state(request)
    with s.database.tenant_tx(tenant_id) as conn:
        try:
            saga.record_approval(conn, tenant_id, run_id, approved_by=user.email, user_id=user.user_id)
        except ProvisionError as exc:
            raise web.BadRequest(str(exc)) from exc
    return RedirectResponse("/provisioning?notice=approved_now", status_code=303)
