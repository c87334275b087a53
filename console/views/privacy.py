"""Operators' LGPD screen (issue 23, docs/privacy.md): the data-subject request log with each request's
15-day deadline, state and who acted; what the clean-signal filters kept away from Meta per tenant (bot
clicks, consent-denied clicks, test purchases, last 7 days); and the form that serves a request (export
shows the report on the page, no copy is kept; delete erases after an explicit confirmation).

Reads go through the console's own role (row-level security, the operator's SELECT bypass). Serving a
request reads and erases across landing/core/ops, which the console role may not: it runs on
TRACKAI_PRIVACY_DATABASE_URL (empty: the main database URL), for operators only, CSRF-checked, and every
step is logged in privacy.request_events with the operator's email. The email/phone typed in the form is
hashed at once (as ingest hashes it) and never stored, logged or echoed back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from console import web
from console.i18n import _m
from trackai import db as trackai_db

router = APIRouter()

_m("nav.privacy", "LGPD", "LGPD")
_m("privacy.title", "LGPD: pedidos dos titulares", "LGPD: data-subject requests")
_m(
    "privacy.intro",
    "Um comprador pode pedir o que guardamos sobre ele e quem recebeu (art. 18) e pedir a exclusão; a resposta "
    "completa vence em 15 dias (art. 19).",
    "A buyer may ask what we hold about them and who received it (Art. 18) and ask for deletion; the full "
    "answer is due within 15 days (Art. 19).",
)
_m("privacy.form.title", "Atender um pedido", "Serve a request")
_m("privacy.form.tenant", "Vendedor", "Seller")
_m("privacy.form.kind", "Identificar o comprador por", "Identify the buyer by")
_m("privacy.form.email", "E-mail", "Email")
_m("privacy.form.phone", "Telefone", "Phone")
_m("privacy.form.value", "E-mail ou telefone do comprador", "The buyer's email or phone")
_m(
    "privacy.form.value_hint",
    "Convertido em hash na hora, como na coleta; nunca é guardado.",
    "Hashed at once, as ingest does; never stored.",
)
_m("privacy.form.action", "Ação", "Action")
_m("privacy.form.export", "Exportar (relatório e destinatários)", "Export (report and recipients)")
_m("privacy.form.delete", "Excluir tudo deste comprador", "Delete everything of this buyer")
_m(
    "privacy.form.confirm",
    "Confirmo a exclusão: não pode ser desfeita (os envios já feitos à Meta ficam com a Meta).",
    "I confirm the deletion: it cannot be undone (what was sent to Meta stays with Meta).",
)
_m("privacy.form.submit", "Atender", "Serve")
_m("privacy.error.confirm", "Marque a confirmação para excluir.", "Tick the confirmation to delete.")
_m("privacy.error.subject", "Pedido recusado: {why}", "Request refused: {why}")
_m("privacy.log.title", "Registro de pedidos", "Request log")
_m("privacy.log.caption", "Pedidos abertos primeiro, pelo prazo", "Open requests first, by deadline")
_m("privacy.col.id", "Nº", "No.")
_m("privacy.col.tenant", "Vendedor", "Seller")
_m("privacy.col.kind", "Por", "By")
_m("privacy.col.state", "Situação", "State")
_m("privacy.col.received", "Recebido", "Received")
_m("privacy.col.deadline", "Prazo", "Deadline")
_m("privacy.col.who", "Quem agiu", "Who acted")
_m("privacy.state.open", "Aberto", "Open")
_m("privacy.state.exported", "Respondido (exportado)", "Answered (exported)")
_m("privacy.state.erased", "Excluído", "Erased")
_m("privacy.state.rejected", "Recusado", "Rejected")
_m("privacy.overdue", "vencido", "overdue")
_m("privacy.days_left", "{days} dias", "{days} days")
_m("privacy.none", "Nenhum pedido registrado.", "No request logged.")
_m("privacy.filtered.title", "Filtrado antes da Meta (7 dias)", "Filtered before Meta (7 days)")
_m("privacy.filtered.caption", "Por vendedor", "Per seller")
_m("privacy.filtered.bots", "Cliques de robôs", "Bot clicks")
_m("privacy.filtered.consent", "Cliques sem consentimento", "Clicks without consent")
_m("privacy.filtered.tests", "Compras de teste", "Test purchases")
_m("privacy.report.title", "Relatório do pedido nº {id}", "Report of request no. {id}")
_m("privacy.report.recipients", "Destinatários", "Recipients")
_m("privacy.report.no_recipient", "Nada foi enviado à Meta.", "Nothing was sent to Meta.")
_m(
    "privacy.report.sent",
    "Pixel {pixel}: evento {event} enviado em {when}",
    "Pixel {pixel}: event {event} sent on {when}",
)
_m("privacy.report.counts", "Linhas por tabela", "Rows per table")
_m(
    "privacy.report.full",
    "Relatório completo (para enviar ao titular)",
    "Full report (to send to the subject)",
)
_m("privacy.erased.title", "Pedido nº {id}: dados excluídos", "Request no. {id}: data erased")
_m(
    "privacy.erased.kept",
    "Mantidos só os registros de livro-razão: o event_id (para nunca reenviar), as tentativas de envio e a "
    "cobrança.",
    "Only ledger records were kept: the event_id (so it is never sent again), send attempts and billing.",
)
_m("privacy.timings", "Tempo: {timings}", "Time: {timings}")
_m("privacy.back", "Voltar ao registro", "Back to the log")


def _operator(request: Request) -> web.User:
    user = web.require_user(request)
    if not user.is_operator:
        raise HTTPException(404)
    return user


def _page_data(request: Request) -> dict:
    with web.state(request).database.operator_tx() as conn:
        tenants = conn.execute(
            "SELECT tenant_id::text AS tenant_id, name FROM core.tenants ORDER BY name"
        ).fetchall()
        log = conn.execute(
            """SELECT r.request_id, t.name AS tenant_name, r.subject_kind, r.state, r.received_at, r.deadline_at,
                      coalesce(r.erased_by, r.exported_by, r.opened_by) AS actor
                 FROM privacy.requests r JOIN core.tenants t USING (tenant_id)
                ORDER BY (r.state IN ('open', 'exported')) DESC, r.deadline_at LIMIT 200"""
        ).fetchall()
        filtered = conn.execute(
            """SELECT t.name AS tenant_name,
                      (SELECT count(*) FROM landing.clicks c WHERE c.tenant_id = t.tenant_id
                          AND c.occurred_at >= now() - interval '7 days' AND c.bot_reason IS NOT NULL) AS bots,
                      (SELECT count(*) FROM landing.clicks c WHERE c.tenant_id = t.tenant_id
                          AND c.occurred_at >= now() - interval '7 days' AND c.consent_denied) AS consent_denied,
                      (SELECT count(*) FROM core.purchases p WHERE p.tenant_id = t.tenant_id
                          AND p.partition_date >= current_date - 7 AND p.test_reason IS NOT NULL) AS tests
                 FROM core.tenants t ORDER BY t.name"""
        ).fetchall()
    now = datetime.now(UTC)
    for row in log:
        row["days_left"] = (row["deadline_at"] - now).days
        row["overdue"] = row["state"] == "open" and row["deadline_at"] <= now
    return {"tenants": tenants, "log": log, "filtered": filtered}


@router.get("/operator/privacy")
def privacy_page(request: Request) -> Response:
    _operator(request)
    return web.render(request, "privacy.html", nav="privacy", **_page_data(request))


@router.post("/operator/privacy")
async def serve_request(request: Request) -> Response:
    from trackai.privacy import requests as privacy_requests
    from trackai.privacy.subjects import SubjectError

    form = await web.check_csrf(request)
    user = _operator(request)
    tr = web.translator(request)
    action = str(form.get("action") or "")
    kind = str(form.get("kind") or "")
    value = str(form.get("value") or "").strip()
    tenant_id = str(form.get("tenant_id") or "")
    error = None
    if action not in privacy_requests.ACTIONS or kind not in ("email", "phone"):
        error = tr.t("privacy.error.subject", why="action/kind")
    elif action == "delete" and form.get("confirm") != "yes":
        error = tr.t("privacy.error.confirm")
    if error is None:
        settings = web.state(request).settings
        url = settings.privacy.database_url or trackai_db.database_url(settings)
        try:
            with trackai_db.connect(url) as conn:
                served = privacy_requests.serve(
                    conn,
                    tenant_id,
                    action=action,
                    actor=f"console:{user.email}",
                    settings=settings,
                    write_report_file=False,
                    **{kind: value},
                )
        except (SubjectError, ValueError) as exc:
            error = tr.t("privacy.error.subject", why=str(exc))
    if error is not None:
        return web.render(
            request, "privacy.html", status_code=422, nav="privacy", error=error, **_page_data(request)
        )
    report = served.report
    return web.render(
        request,
        "privacy_report.html",
        nav="privacy",
        served=served,
        report=report,
        report_text=None if report is None else _report_text(report),
        timings=json.dumps(served.timings_s),
    )


def _report_text(report: dict) -> str:
    from trackai.privacy.subjects import render_text

    return render_text(report)
