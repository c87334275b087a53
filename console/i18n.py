"""Texts and number/date/money formats of the console: Portuguese of Brazil by default, English switchable.

Every text is declared once with both languages (``_m(key, pt, en)``), so a page can never miss one
language; tests check that every key a template or module uses exists. Formats come from Babel (CLDR):
``1.234,56`` and ``R$ 1.234,56`` in pt-BR, ``1,234.56`` and ``R$1,234.56`` in English; money is BRL.
Times are shown in TRACKAI_CONSOLE_TIMEZONE; days are UTC days (the pipeline's partitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal, format_percent

LOCALES = ("pt-BR", "en")
DEFAULT_LOCALE = "pt-BR"
BABEL = {"pt-BR": "pt_BR", "en": "en_US"}

MESSAGES: dict[str, dict[str, str]] = {}


def _m(key: str, pt: str, en: str) -> None:
    if key in MESSAGES:
        raise ValueError(f"message {key} declared twice")
    MESSAGES[key] = {"pt-BR": pt, "en": en}


def resolve_locale(value: str | None) -> str:
    return value if value in LOCALES else DEFAULT_LOCALE


@dataclass(frozen=True)
class Translator:
    """Texts and formats for one request's language (a Jinja global ``i``: ``i.t('key')``, ``i.money(x)``)."""

    locale: str
    timezone: str

    @property
    def babel(self) -> str:
        return BABEL[self.locale]

    @property
    def html_lang(self) -> str:
        return self.locale

    def has(self, key: str) -> bool:
        return key in MESSAGES

    def t(self, key: str, **values: object) -> str:
        text = MESSAGES[key][self.locale]
        return text.format(**values) if values else text

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.babel)

    def percent(self, part: float | int | None, whole: float | int | None, digits: int = 1) -> str:
        if part is None or not whole:
            return "—"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(float(part) / float(whole), format=pattern, locale=self.babel)

    def money(self, value: float | Decimal | None) -> str:
        if value is None:
            return "—"
        return format_currency(value, "BRL", locale=self.babel)

    def day(self, value: date | None, style: str = "short") -> str:
        if value is None:
            return "—"
        return format_date(value, format=style, locale=self.babel)

    def day_label(self, value: date) -> str:
        """A compact day for chart axes (``5/3`` in pt-BR, ``3/5`` in English)."""
        return format_date(value, format="d/M" if self.locale == "pt-BR" else "M/d", locale=self.babel)

    def when(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return format_datetime(value, format="short", tzinfo=ZoneInfo(self.timezone), locale=self.babel)

    def clock(self, value: datetime) -> str:
        return format_time(value, format="medium", tzinfo=ZoneInfo(self.timezone), locale=self.babel)


# ----------------------------------------------------------------------------------------------- layout
_m("app.name", "Track AI", "Track AI")
_m("app.tagline", "Painel do lojista", "Seller console")
_m("nav.skip", "Pular para o conteúdo", "Skip to content")
_m("nav.label", "Seções do painel", "Console sections")
_m("nav.overview", "Visão geral", "Overview")
_m("nav.purchases", "Compras", "Purchases")
_m("nav.failures", "Falhas", "Failures")
_m("nav.quality", "Qualidade do match", "Match quality")
_m("nav.setup", "Configuração", "Setup")
_m("nav.tenants", "Lojistas", "Sellers")
_m("nav.logout", "Sair", "Log out")
_m("nav.language", "Idioma", "Language")
_m("nav.switch_language", "English", "Português")
_m("nav.signed_in_as", "Conectado como {email}", "Signed in as {email}")
_m("nav.acting_for", "Vendo a conta de {name}", "Viewing {name}'s account")
_m("footer.times", "Horários em {tz}; dias em UTC.", "Times in {tz}; days are UTC days.")
_m("live.updated", "Atualizado às {time}", "Updated at {time}")
_m("common.none", "Nenhum", "None")
_m("common.all", "Todos", "All")
_m("common.yes", "sim", "yes")
_m("common.no", "não", "no")
_m("common.copy", "Copiar", "Copy")
_m("common.copied", "Copiado", "Copied")
_m("common.estimated", "estimado", "estimated")
_m("common.next_page", "Próxima página", "Next page")
_m("common.first_page", "Primeira página", "First page")
_m("common.show", "Ver", "View")
_m("common.day", "Dia", "Day")

# ------------------------------------------------------------------------------------------ login, invite
_m("login.title", "Entrar", "Log in")
_m("login.intro", "Acompanhe cada venda do webhook até a Meta.", "Follow every sale from webhook to Meta.")
_m("login.email", "E-mail", "E-mail")
_m("login.password", "Senha", "Password")
_m("login.submit", "Entrar", "Log in")
_m("login.failed", "E-mail ou senha incorretos.", "Wrong e-mail or password.")
_m(
    "login.throttled",
    "Muitas tentativas. Tente de novo em {minutes} min.",
    "Too many attempts. Try again in {minutes} min.",
)
_m("login.expired", "Sua sessão terminou. Entre de novo.", "Your session ended. Please log in again.")
_m("login.logged_out", "Você saiu do painel.", "You are logged out.")
_m("invite.title", "Definir senha", "Set your password")
_m("invite.intro", "Defina a senha de {email}.", "Set the password of {email}.")
_m("invite.password", "Nova senha", "New password")
_m("invite.confirm", "Confirme a senha", "Confirm the password")
_m(
    "invite.rules",
    "Pelo menos {n} caracteres; não use o seu e-mail.",
    "At least {n} characters; not your e-mail.",
)
_m("invite.submit", "Salvar senha e entrar", "Save password and log in")
_m("invite.mismatch", "As senhas não são iguais.", "The passwords differ.")
_m(
    "invite.invalid",
    "Este link é inválido ou expirou. Peça um novo ao operador.",
    "This link is invalid or has expired. Ask the operator for a new one.",
)
_m(
    "invite.policy",
    "A senha precisa de pelo menos {n} caracteres e não pode ser o e-mail.",
    "The password needs at least {n} characters and cannot be the e-mail.",
)

# ---------------------------------------------------------------------------------------------- errors
_m("error.title", "Algo deu errado", "Something went wrong")
_m(
    "error.403",
    "Pedido recusado: a página expirou ou veio de outro site. Recarregue e tente de novo.",
    "Request refused: the page expired or came from another site. Reload and try again.",
)
_m(
    "error.404",
    "Não encontramos esta página (ou ela não é da sua conta).",
    "This page does not exist (or is not in your account).",
)
_m("error.400", "Pedido inválido: {detail}", "Invalid request: {detail}")
_m("error.500", "Erro interno. Tente de novo em instantes.", "Internal error. Try again in a moment.")
_m("error.back", "Voltar para a visão geral", "Back to the overview")

# ------------------------------------------------------------------------------------------- vocabulary
_m("gateway.perfectpay", "Perfect Pay", "Perfect Pay")
_m("gateway.hotmart", "Hotmart", "Hotmart")
_m("gateway.kiwify", "Kiwify", "Kiwify")
_m("gateway.stripe", "Stripe", "Stripe")
_m("stage.deterministic", "Determinístico (sessão)", "Deterministic (session)")
_m(
    "stage.semi_deterministic",
    "Semi-determinístico (e-mail, telefone, fbclid)",
    "Semi-deterministic (e-mail, phone, fbclid)",
)
_m("stage.probabilistic", "Probabilístico", "Probabilistic")
_m("stage.unmatched", "Sem match", "Unmatched")
_m("state.not_approved", "Não aprovada", "Not approved")
_m("state.waiting", "Aguardando a fila", "Waiting for the queue")
_m("state.pending", "Pendente", "Pending")
_m("state.failed", "Com falha (tentando de novo)", "Failed (retrying)")
_m("state.sent", "Enviada", "Sent")
_m("state.dlq", "Na DLQ", "In the DLQ")
_m("status.approved", "Aprovada", "Approved")
_m("status.pending", "Aguardando pagamento", "Awaiting payment")
_m("status.refunded", "Reembolsada", "Refunded")
_m("status.chargeback", "Chargeback", "Chargeback")
_m("status.canceled", "Cancelada", "Canceled")
_m("status.other", "Outro", "Other")
_m("key.em", "E-mail", "E-mail")
_m("key.ph", "Telefone", "Phone")
_m("key.fbc", "Clique (fbc)", "Click id (fbc)")
_m("key.fbp", "Navegador (fbp)", "Browser id (fbp)")
_m("key.external_id", "ID externo", "External id")
_m("key.client_ip_address", "IP", "IP address")
_m("key.client_user_agent", "Navegador (user agent)", "User agent")
_m("match_key.session_id", "sessão do snippet", "snippet session")
_m("match_key.fbc", "fbc", "fbc")
_m("match_key.fbclid", "fbclid", "fbclid")
_m("match_key.email_hash", "e-mail (hash)", "e-mail (hash)")
_m("match_key.phone_hash", "telefone (hash)", "phone (hash)")
_m("match_key.ip", "IP igual", "same IP")
_m("match_key.ip_network", "mesma rede (/24 ou /64)", "same network (/24 or /64)")
_m("match_key.user_agent", "mesmo navegador", "same user agent")
_m("match_key.ua_family", "mesma família de navegador", "same browser family")
_m("match_key.time", "proximidade no tempo", "closeness in time")
_m("match_key.product", "mesmo produto do funil", "same funnel product")
_m("attempt.success", "Aceita", "Accepted")
_m("attempt.retryable_error", "Erro temporário", "Temporary error")
_m("attempt.fatal_error", "Erro definitivo", "Permanent error")
_m("attempt.invalid", "Recusada por nós (dados inválidos)", "Refused by us (invalid data)")
_m("attempt.expired", "Prazo expirado", "Deadline passed")
_m("attempt.blocked", "Retida (token inválido)", "Held (invalid token)")

# -------------------------------------------------------------------------------------------- overview
_m("overview.title", "Visão geral", "Overview")
_m("overview.window", "Período", "Period")
_m("overview.window.1", "Hoje", "Today")
_m("overview.window.7", "7 dias", "7 days")
_m("overview.window.30", "30 dias", "30 days")
_m("overview.purchases", "Compras aprovadas", "Approved purchases")
_m("overview.revenue", "Receita", "Revenue")
_m("overview.matched", "Com match", "Matched")
_m("overview.match_rate", "Taxa de match", "Match rate")
_m("overview.by_stage", "Match por etapa", "Matched by stage")
_m("overview.sent", "Enviadas à Meta", "Sent to Meta")
_m("overview.revenue_sent", "Receita enviada à Meta", "Revenue sent to Meta")
_m("overview.pending", "Pendentes", "Pending")
_m("overview.failed", "Com falha", "Failed")
_m("overview.dlq", "Na DLQ", "In the DLQ")
_m("overview.dispatch", "Envio à Meta", "Sending to Meta")
_m("overview.emq", "EMQ estimado", "Estimated EMQ")
_m("overview.emq.good", "bom (≥ {min})", "good (≥ {min})")
_m("overview.emq.low", "baixo (< {min})", "low (< {min})")
_m("overview.emq.none", "sem envios no período", "nothing sent in the period")
_m(
    "overview.emq.note",
    "Estimativa nossa, pelas chaves enviadas; a nota da Meta está em Qualidade do match.",
    "Our estimate from the keys sent; Meta's own score is under Match quality.",
)
_m("overview.alarm", "Alarme de EMQ ({hours} h)", "EMQ alarm ({hours} h)")
_m("overview.alarm.firing", "disparado: média {value} abaixo de {min}", "firing: average {value} below {min}")
_m("overview.alarm.ok", "normal: média {value}", "normal: average {value}")
_m(
    "overview.alarm.insufficient",
    "dados insuficientes ({n} de {min_events} envios)",
    "not enough data ({n} of {min_events} events)",
)
_m(
    "overview.other_currency",
    "{n} compras em outra moeda não entram na receita.",
    "{n} purchases in another currency are not in the revenue.",
)
_m("overview.chart.purchases", "Compras por dia", "Purchases per day")
_m(
    "overview.chart.purchases.desc",
    "Compras aprovadas por dia, com e sem match.",
    "Approved purchases per day, matched and unmatched.",
)
_m("overview.chart.sent", "Enviadas à Meta por dia", "Sent to Meta per day")
_m(
    "overview.chart.sent.desc",
    "Eventos aceitos pela Meta por dia de envio.",
    "Events Meta accepted per day they were sent.",
)
_m("overview.chart.emq", "EMQ estimado por dia", "Estimated EMQ per day")
_m(
    "overview.chart.emq.desc",
    "Média do EMQ estimado dos eventos enviados em cada dia; a linha tracejada é o mínimo {min}.",
    "Average estimated EMQ of the events sent each day; the dashed line is the minimum {min}.",
)
_m(
    "overview.missing_days",
    "{n} dia(s) ainda não consolidado(s) pelo pipeline aparecem vazios.",
    "{n} day(s) not consolidated by the pipeline yet show as empty.",
)
_m(
    "overview.partial_days",
    "{n} dia(s) consolidado(s) antes de terminar: os números podem crescer.",
    "{n} day(s) consolidated before they ended: numbers may still grow.",
)
_m("overview.table", "Números por dia", "Numbers per day")
_m("series.matched", "Com match", "Matched")
_m("series.unmatched", "Sem match", "Unmatched")
_m("series.sent", "Enviadas", "Sent")
_m("series.ours", "EMQ estimado (nosso)", "Estimated EMQ (ours)")
_m("series.meta", "EMQ da Meta", "Meta's EMQ")
_m("series.threshold", "Mínimo", "Minimum")

# ------------------------------------------------------------------------------------------- purchases
_m("purchases.title", "Compras", "Purchases")
_m(
    "purchases.search",
    "Buscar por pedido, e-mail ou telefone do comprador",
    "Search by order id, buyer e-mail or phone",
)
_m(
    "purchases.search.help",
    "E-mail e telefone viram hash (SHA-256) antes da busca, como na captura; o texto digitado não é guardado nem registrado.",
    "E-mail and phone are hashed (SHA-256) before searching, as ingest does; what you type is never stored or logged.",
)
_m("purchases.search.submit", "Buscar", "Search")
_m(
    "purchases.search.buyer",
    "Compras do comprador buscado ({kind}).",
    "Purchases of the buyer searched ({kind}).",
)
_m("purchases.search.order", "Pedido buscado: {order}.", "Order searched: {order}.")
_m("purchases.search.kind.email", "e-mail", "e-mail")
_m("purchases.search.kind.phone", "telefone", "phone")
_m("purchases.search.kind.phone_or_order", "telefone ou pedido", "phone or order")
_m("purchases.search.clear", "Limpar busca", "Clear search")
_m(
    "purchases.search.unusable",
    "Digite um número de pedido, um e-mail ou um telefone.",
    "Type an order id, an e-mail or a phone.",
)
_m("purchases.filters", "Filtros", "Filters")
_m("purchases.filter.gateway", "Gateway", "Gateway")
_m("purchases.filter.match", "Match", "Match")
_m("purchases.filter.state", "Envio à Meta", "Sending to Meta")
_m("purchases.filter.from", "De (dia da compra)", "From (purchase day)")
_m("purchases.filter.to", "Até", "To")
_m("purchases.filter.submit", "Filtrar", "Filter")
_m("purchases.filter.clear", "Limpar filtros", "Clear filters")
_m("purchases.caption", "Compras, mais recentes primeiro", "Purchases, newest first")
_m("purchases.col.order", "Pedido", "Order")
_m("purchases.col.gateway", "Gateway", "Gateway")
_m("purchases.col.day", "Dia", "Day")
_m("purchases.col.amount", "Valor", "Amount")
_m("purchases.col.status", "Status", "Status")
_m("purchases.col.match", "Match", "Match")
_m("purchases.col.state", "Envio à Meta", "Sending to Meta")
_m("purchases.empty", "Nenhuma compra encontrada.", "No purchases found.")

# --------------------------------------------------------------------------------------------- journey
_m("journey.title", "Pedido {order}", "Order {order}")
_m("journey.summary", "Resumo", "Summary")
_m("journey.event_id", "event_id", "event_id")
_m("journey.approved_at", "Aprovada em", "Approved at")
_m("journey.steps", "Jornada", "Journey")
_m("journey.webhooks", "1. Webhooks recebidos do gateway", "1. Webhooks received from the gateway")
_m(
    "journey.webhooks.caption",
    "Cada entrega verificada, na ordem em que chegou",
    "Each verified delivery, in arrival order",
)
_m("journey.col.received", "Recebido em", "Received at")
_m("journey.col.event", "Evento do gateway", "Gateway event")
_m("journey.col.status", "Status", "Status")
_m("journey.col.gateway_status", "Status no gateway", "Gateway status")
_m("journey.match", "2. Match com o clique do anúncio", "2. Match with the ad click")
_m("journey.match.stage", "Etapa", "Stage")
_m("journey.match.score", "Pontuação", "Score")
_m("journey.match.keys", "Chaves que bateram", "Keys that matched")
_m("journey.match.click_at", "Clique em", "Clicked at")
_m("journey.match.landing", "Página de entrada", "Landing page")
_m(
    "journey.match.none",
    'Nenhum clique correspondeu: a compra vai à Meta sem dados do navegador (action_source "other").',
    'No click matched: the purchase goes to Meta without browser data (action_source "other").',
)
_m(
    "journey.match.not_approved",
    "Só compras aprovadas são casadas e enviadas.",
    "Only approved purchases are matched and sent.",
)
_m("journey.attempts", "3. Envios à Meta (Conversions API)", "3. Sends to Meta (Conversions API)")
_m(
    "journey.attempts.caption",
    "Cada tentativa, com a resposta HTTP e o código da Meta",
    "Each attempt, with the HTTP answer and Meta's code",
)
_m("journey.col.attempt", "Tentativa", "Attempt")
_m("journey.col.when", "Quando", "When")
_m("journey.col.result", "Resultado", "Result")
_m("journey.col.http", "HTTP", "HTTP")
_m("journey.col.meta_code", "Código Meta", "Meta code")
_m("journey.col.fbtrace", "fbtrace_id", "fbtrace_id")
_m("journey.col.latency", "Latência", "Latency")
_m("journey.attempts.none", "Nenhuma tentativa ainda.", "No attempt yet.")
_m("journey.answer", "4. Resposta da Meta", "4. Meta's answer")
_m("journey.answer.sent", "Aceita pela Meta em {when}.", "Accepted by Meta at {when}.")
_m("journey.answer.pending", "Na fila: próxima tentativa às {when}.", "Queued: next attempt at {when}.")
_m(
    "journey.answer.failed",
    "Ainda não aceita: {error}. Nova tentativa às {when}.",
    "Not accepted yet: {error}. Next attempt at {when}.",
)
_m(
    "journey.answer.waiting",
    "Aprovada; entra na fila de envio na próxima execução do pipeline.",
    "Approved; it joins the sending queue on the next pipeline run.",
)
_m(
    "journey.answer.not_approved",
    "Não aprovada: nada é enviado à Meta.",
    "Not approved: nothing is sent to Meta.",
)
_m("journey.answer.dlq", "Foi para a DLQ: {reason}.", "Went to the DLQ: {reason}.")
_m("journey.meta_message", "Mensagem da Meta", "Meta's message")
_m("journey.replays", "Reenvios pelo painel", "Replays from the console")
_m("journey.replayed_by", "{email} pediu o reenvio em {when}", "{email} asked for a replay at {when}")
_m("journey.latency_ms", "{ms} ms", "{ms} ms")

# -------------------------------------------------------------------------------------------- failures
_m("failures.title", "Falhas", "Failures")
_m(
    "failures.intro",
    "Eventos que não chegaram à Meta e ficaram na DLQ (fila de mensagens mortas), com o motivo em palavras simples e o que fazer. O reenvio usa o mesmo caminho do comando trackai dlq replay, com o mesmo event_id: a Meta nunca recebe a mesma compra duas vezes.",
    "Events that did not reach Meta and sit in the DLQ (dead-letter queue), with the reason in plain words and what to do. A replay takes the same path as the trackai dlq replay command, with the same event_id: Meta never gets the same purchase twice.",
)
_m("failures.summary", "Na DLQ agora", "In the DLQ now")
_m("failures.none", "Nenhum evento na DLQ. Tudo certo!", "Nothing in the DLQ. All good!")
_m("failures.caption", "Eventos na DLQ, mais recentes primeiro", "DLQ events, newest first")
_m("failures.col.select", "Selecionar", "Select")
_m("failures.col.order", "Pedido", "Order")
_m("failures.col.reason", "Motivo", "Reason")
_m("failures.col.todo", "O que fazer", "What to do")
_m("failures.col.since", "Na DLQ desde", "In the DLQ since")
_m("failures.col.deadline", "Prazo da Meta", "Meta's deadline")
_m("failures.col.action", "Ação", "Action")
_m("failures.select_all", "Selecionar todos desta página", "Select all on this page")
_m("failures.replay_one", "Reenviar", "Replay")
_m("failures.replay_one.label", "Reenviar o pedido {order}", "Replay order {order}")
_m("failures.replay_selected", "Reenviar selecionados", "Replay selected")
_m("failures.replay_since", "Reenviar todos desde", "Replay all since")
_m(
    "failures.replay_since.help",
    "Todos os eventos que entraram na DLQ a partir deste dia.",
    "Every event that entered the DLQ from this day on.",
)
_m("failures.replay_since.submit", "Reenviar todos", "Replay all")
_m(
    "failures.expired",
    "Prazo de 7 dias da Meta passou: não pode ser reenviado.",
    "Meta's 7-day window has passed: it cannot be replayed.",
)
_m(
    "failures.accepted",
    "A Meta já aceitou este evento: não é reenviado.",
    "Meta already accepted this event: it is not replayed.",
)
_m("failures.recent_replays", "Reenvios recentes", "Recent replays")
_m(
    "failures.replay_line",
    "{email} reenviou {n} evento(s) em {when}",
    "{email} replayed {n} event(s) at {when}",
)
_m("failures.nothing_selected", "Selecione pelo menos um evento.", "Select at least one event.")
_m("failures.meta_says", "A Meta disse", "Meta said")
_m("reason.invalid", "Dados inválidos para a Meta", "Data Meta would refuse")
_m(
    "reason.invalid.what",
    "Nós mesmos seguramos o evento antes de enviar: faltava um campo obrigatório ou um valor estava fora do formato da Meta.",
    "We held the event back before sending: a required field was missing or a value was not in Meta's format.",
)
_m(
    "reason.invalid.todo",
    "Corrija a origem (por exemplo, valor ou moeda do pedido no gateway) e reenvie: o reenvio reconstrói o evento com os dados atuais da compra.",
    "Fix the source (e.g. the order's amount or currency at the gateway) and replay: a replay rebuilds the event from the purchase as it is now.",
)
_m("reason.meta_rejected", "A Meta recusou o evento", "Meta refused the event")
_m(
    "reason.meta_rejected.what",
    "A Meta respondeu com erro de parâmetro (código 100) para este evento; os outros do lote foram aceitos.",
    "Meta answered with a parameter error (code 100) for this event; the rest of its batch was accepted.",
)
_m(
    "reason.meta_rejected.todo",
    "Leia a mensagem da Meta, corrija o dado que ela aponta e reenvie.",
    "Read Meta's message, fix the data it points at, and replay.",
)
_m("reason.expired", "Prazo da Meta expirado", "Meta's deadline passed")
_m(
    "reason.expired.what",
    "A Meta só aceita compras de até 7 dias atrás e este evento não foi aceito a tempo (Meta fora do ar, token inválido ou envio retido).",
    "Meta only accepts purchases up to 7 days old and this event was not accepted in time (Meta down, invalid token, or sending held).",
)
_m(
    "reason.expired.todo",
    "Não há como reenviar. Para não perder outras: mantenha o token válido e acompanhe os alertas.",
    "It cannot be replayed. To lose no others: keep the token valid and watch the alerts.",
)
_m("reason.token", "Token da Meta inválido", "Invalid Meta token")
_m(
    "reason.token.what",
    "A Meta recusou o token de acesso (código 190): nada da conta é enviado até trocá-lo.",
    "Meta refused the access token (code 190): nothing of the account is sent until it is replaced.",
)
_m(
    "reason.token.todo",
    "Gere um novo token no Gerenciador de Eventos, peça ao operador para trocá-lo e reenvie.",
    "Create a new token in Events Manager, ask the operator to replace it, then replay.",
)

# ---------------------------------------------------------------------------------------------- replay
_m("replay.title", "Reenvio #{id}", "Replay #{id}")
_m("replay.who", "{email} pediu o reenvio em {when}.", "{email} asked for the replay at {when}.")
_m(
    "replay.counts",
    "Recolocados na fila: {replayed}. Recusados: {refused}.",
    "Queued again: {replayed}. Refused: {refused}.",
)
_m(
    "replay.how",
    "O despacho envia os eventos recolocados na sua próxima execução, com o mesmo event_id. Esta página se atualiza sozinha.",
    "The dispatcher sends queued events on its next run, with the same event_id. This page refreshes by itself.",
)
_m(
    "replay.past_deadline",
    "{n} já passaram do prazo de 7 dias e voltarão para a DLQ.",
    "{n} are past the 7-day deadline and will go back to the DLQ.",
)
_m(
    "replay.caption",
    "Eventos deste reenvio e onde estão agora",
    "Events of this replay and where they are now",
)
_m("replay.refused.accepted", "já aceito pela Meta", "already accepted by Meta")
_m(
    "replay.refused.unverified",
    "a verificação da compra não deixa enviar",
    "the purchase's verification holds it back",
)
_m("replay.refused.not_open", "não está na DLQ desta conta", "not in this account's DLQ")
_m("replay.col.event", "Pedido", "Order")
_m("replay.col.state", "Agora", "Now")
_m("replay.refused_list", "Recusados", "Refused")

# --------------------------------------------------------------------------------------------- quality
_m("quality.title", "Qualidade do match", "Match quality")
_m(
    "quality.intro",
    "Últimos 7 dias. O EMQ estimado é nosso, pelas chaves de cada evento enviado; o EMQ da Meta é a nota que a própria Meta dá (API Dataset Quality, lida uma vez por dia).",
    "Last 7 days. The estimated EMQ is ours, from the keys of each event sent; Meta's EMQ is Meta's own score (Dataset Quality API, read once a day).",
)
_m(
    "quality.chart",
    "EMQ por dia: nossa estimativa e a nota da Meta",
    "EMQ per day: our estimate and Meta's score",
)
_m(
    "quality.chart.desc",
    "Duas linhas de 0 a 10 por dia; a linha tracejada é o mínimo {min}.",
    "Two lines from 0 to 10 per day; the dashed line is the minimum {min}.",
)
_m(
    "quality.drift",
    "Alarme: nossa estimativa e a nota da Meta divergem {gap} pontos em {day} (limite {max}).",
    "Alarm: our estimate and Meta's score are {gap} points apart on {day} (limit {max}).",
)
_m(
    "quality.drift.ok",
    "Nossa estimativa e a nota da Meta estão próximas (diferença {gap} em {day}).",
    "Our estimate and Meta's score agree (gap {gap} on {day}).",
)
_m(
    "quality.drift.unknown",
    "Ainda não há nota da Meta e envios no mesmo dia para comparar.",
    "No day yet with both Meta's score and events sent to compare.",
)
_m("quality.table", "Por dia", "Per day")
_m("quality.col.sent", "Enviadas", "Sent")
_m("quality.col.ours", "EMQ estimado", "Estimated EMQ")
_m("quality.col.meta", "EMQ da Meta", "Meta's EMQ")
_m("quality.keys", "Eventos com cada chave (7 dias)", "Events carrying each key (7 days)")
_m(
    "quality.keys.caption",
    "Parte dos eventos enviados que levou cada dado do comprador",
    "Share of sent events that carried each buyer field",
)
_m("quality.col.key", "Chave", "Key")
_m("quality.col.share", "Nossos envios", "Our events")
_m("quality.col.meta_coverage", "Cobertura segundo a Meta", "Coverage per Meta")
_m("quality.stages", "Eventos enviados por etapa de match (7 dias)", "Sent events by match stage (7 days)")
_m("quality.probabilistic_share", "Parte probabilística: {share}", "Probabilistic share: {share}")
_m("quality.col.stage", "Etapa", "Stage")
_m("quality.col.events", "Eventos", "Events")

# ----------------------------------------------------------------------------------------------- setup
_m("setup.title", "Configuração", "Setup")
_m("setup.account", "Conta", "Account")
_m("setup.pixel", "Pixel (dataset) da Meta", "Meta pixel (dataset)")
_m("setup.test_code", "Código de teste", "Test event code")
_m("setup.token", "Token da Meta", "Meta token")
_m("setup.token.ok", "válido (verificado em {when})", "valid (checked at {when})")
_m(
    "setup.token.invalid",
    "inválido: envios parados até a troca (código {code})",
    "invalid: sending stopped until replaced (code {code})",
)
_m("setup.token.expiring", "expira em {when}", "expires at {when}")
_m("setup.token.unknown", "cadastrado; ainda não verificado", "stored; not checked yet")
_m("setup.token.missing", "não cadastrado", "not stored")
_m(
    "setup.secrets_note",
    "Segredos e tokens nunca são mostrados de novo depois de cadastrados; o painel mostra só se existem e quando mudaram.",
    "Secrets and tokens are never shown again once stored; the console shows only whether they exist and when they changed.",
)
_m("setup.webhooks", "Webhooks por gateway", "Webhooks per gateway")
_m("setup.webhook_url", "URL do webhook", "Webhook URL")
_m("setup.events", "Eventos a ativar", "Events to enable")
_m("setup.secret", "Segredo", "Secret")
_m("setup.secret.set", "cadastrado (alterado em {when})", "stored (changed at {when})")
_m(
    "setup.secret.missing",
    "não cadastrado: os webhooks serão recusados",
    "not stored: webhooks will be refused",
)
_m("setup.secret.where", "De onde vem", "Where it comes from")
_m("setup.rejections", "Recusados nas últimas 24 h", "Refused in the last 24 h")
_m("setup.rejections.none", "nenhum", "none")
_m("setup.rejection_line", "{reason}: {n} (último às {when})", "{reason}: {n} (last at {when})")
_m("setup.snippet", "Script de rastreamento", "Tracking snippet")
_m(
    "setup.snippet.intro",
    "Cole no <head> da página de entrada. Ele guarda a sessão e o _fbc, registra o clique e leva a sessão para o link do checkout.",
    "Paste it in the landing page's <head>. It keeps the session and _fbc, records the click and carries the session into the checkout link.",
)
_m("setup.snippet.for", "Para checkout {platform}", "For {platform} checkout")
_m("setup.snippet.generic", "Genérico (qualquer checkout)", "Generic (any checkout)")
_m(
    "setup.events.perfectpay",
    "Perfect Pay envia todas as mudanças de status da venda para a URL: não há eventos a escolher. Use o token do webhook como segredo.",
    "Perfect Pay posts every sale status change to the URL: there are no events to choose. Use the webhook token as the secret.",
)
_m(
    "setup.secret_from.perfectpay",
    "Token mostrado na configuração do webhook (campo token do corpo).",
    "Token shown in the webhook settings (body field token).",
)
_m(
    "setup.secret_from.hotmart",
    "Hottok da conta (Ferramentas → Webhook).",
    "The account's hottok (Tools → Webhook).",
)
_m(
    "setup.secret_from.kiwify",
    "Token do webhook (a assinatura vem em ?signature=).",
    "The webhook token (the signature comes in ?signature=).",
)
_m(
    "setup.secret_from.stripe",
    "Signing secret do endpoint (whsec_…).",
    "The endpoint's signing secret (whsec_…).",
)

# ---------------------------------------------------------------------------------------------- tenants
_m("tenants.title", "Lojistas", "Sellers")
_m(
    "tenants.intro",
    "Como operador você vê todas as contas. Escolha uma para ver o painel dela; a troca fica registrada.",
    "As an operator you see every account. Pick one to view its console; the switch is recorded.",
)
_m("tenants.caption", "Contas", "Accounts")
_m("tenants.col.name", "Lojista", "Seller")
_m("tenants.col.pixel", "Pixel", "Pixel")
_m("tenants.col.active", "Ativa", "Active")
_m("tenants.col.today", "Compras hoje", "Purchases today")
_m("tenants.col.dlq", "Na DLQ", "In the DLQ")
_m("tenants.col.action", "Ação", "Action")
_m("tenants.view", "Ver painel de {name}", "View {name}'s console")

# --- billing (issue 18, console/views/billing.py) ---------------------------------------------------------
_m("state.quota_held", "Retida pela franquia do plano", "Held at the plan's quota")
_m("reason.quota", "Retida pela franquia além da janela da Meta", "Held at the quota past Meta's window")
_m(
    "reason.quota.what",
    "O plano bloqueia envios ao atingir a franquia; o evento ficou na fila até passar o limite de 7 dias da Meta.",
    "The plan holds sending at its quota; the event stayed queued until it passed Meta's 7-day limit.",
)
_m(
    "reason.quota.todo",
    "Não há como reenviar. Para não perder outras: faça upgrade do plano ao ver o aviso de 80% ou 100%.",
    "It cannot be replayed. To lose no others: upgrade the plan when the 80% or 100% notice arrives.",
)
_m("nav.billing", "Plano e uso", "Plan & usage")
_m("billing.title", "Plano e uso", "Plan & usage")
_m(
    "billing.intro",
    "Eventos faturáveis = compras distintas que a Meta aceitou no mês (calendário de São Paulo); reenvios, "
    "duplicatas e replays nunca contam duas vezes.",
    "Billable events = distinct purchases Meta accepted in the month (São Paulo calendar); retries, "
    "duplicates and replays never count twice.",
)
_m("billing.usage", "Uso em {period}", "Usage in {period}")
_m(
    "billing.used_of",
    "{used} de {quota} eventos faturáveis ({pct})",
    "{used} of {quota} billable events ({pct})",
)
_m("billing.state.ok", "Dentro da franquia.", "Within the quota.")
_m("billing.state.warning", "Acima de 80% da franquia do mês.", "Above 80% of the month's quota.")
_m(
    "billing.state.at_quota",
    "Franquia atingida: novos eventos ficam retidos na fila até um upgrade ou o próximo mês (dentro da janela de 7 dias da Meta).",
    "Quota reached: new events stay queued until an upgrade or next month (within Meta's 7-day window).",
)
_m(
    "billing.state.overage",
    "Acima da franquia: os eventos seguem sendo enviados e o excedente é cobrado.",
    "Over the quota: events keep going and the overage is billed.",
)
_m("billing.state.no_plan", "Nenhum plano contratado.", "No plan subscribed.")
_m("billing.held", "{n} eventos retidos pela franquia.", "{n} events held at the quota.")
_m("billing.plan", "Plano", "Plan")
_m("billing.base_price", "Mensalidade", "Monthly fee")
_m("billing.overage_price", "Excedente por 1.000 eventos", "Overage per 1,000 events")
_m("billing.policy", "Ao atingir a franquia", "At the quota")
_m("billing.policy.warn", "avisar e cobrar excedente", "warn and bill overage")
_m("billing.policy.block", "reter novos eventos", "hold new events")
_m("billing.invoices", "Faturas", "Invoices")
_m("billing.invoice_of", "{period}: {used} eventos faturáveis", "{period}: {used} billable events")
_m("billing.open_period", "mês em aberto (prévia)", "open month (preview)")
_m("billing.col.line", "Item", "Line")
_m("billing.col.qty", "Qtd.", "Qty")
_m("billing.col.amount", "Valor", "Amount")
_m("billing.col.total", "Total", "Total")
_m("billing.col.effective", "Vigente desde", "Effective from")
_m("billing.col.quota", "Franquia", "Quota")
_m("billing.col.when", "Quando", "When")
_m("billing.col.period", "Mês", "Month")
_m("billing.col.kind", "Evento", "Event")
_m("billing.col.used", "Uso", "Usage")
_m("billing.line.base", "Mensalidade {plan} ({first} a {last})", "{plan} monthly fee ({first} to {last})")
_m("billing.line.overage", "Excedente {plan} acima de {quota} eventos", "{plan} overage above {quota} events")
_m("billing.no_invoices", "Nenhuma fatura ainda.", "No invoices yet.")
_m(
    "billing.rounding",
    "Valores em BRL; cada item arredondado ao centavo (meio para cima); o total é a soma dos itens. Mensalidade "
    "proporcional aos dias; franquia e excedente do plano vigente no fim do mês.",
    "Amounts in BRL; each line rounded to the centavo (half up); the total is the sum of the lines. Monthly "
    "fee prorated by day; quota and overage of the plan in force at the month's end.",
)
_m("billing.subscriptions", "Planos contratados", "Subscriptions")
_m("billing.history", "Histórico de cobrança", "Billing history")
_m("billing.no_history", "Nada ainda.", "Nothing yet.")
_m("billing.kind.threshold", "{pct}% da franquia", "{pct}% of the quota")
_m("billing.kind.plan_change", "Mudança de plano para {to}", "Plan changed to {to}")
_m("billing.kind.block", "{n} eventos retidos", "{n} events held")
_m("billing.kind.release", "{n} eventos liberados", "{n} events released")
_m(
    "billing.kind.quota_dlq",
    "Eventos retidos além da janela da Meta (DLQ)",
    "Held events past Meta's window (DLQ)",
)
_m("billing.kind.period_close", "Fechamento do mês", "Month closed")
_m("billing.kind.invoice", "Fatura emitida", "Invoice issued")
_m(
    "billing.banner.warning",
    "Você usou {pct}% da franquia do mês ({used} de {quota}). Ver plano e uso.",
    "You have used {pct}% of this month's quota ({used} of {quota}). See plan & usage.",
)
_m(
    "billing.banner.at_quota",
    "Franquia do mês atingida: {held} eventos retidos até um upgrade ou o próximo mês. Ver plano e uso.",
    "This month's quota is reached: {held} events held until an upgrade or next month. See plan & usage.",
)
_m(
    "billing.banner.overage",
    "Acima da franquia do mês ({used} de {quota}): o excedente será cobrado. Ver plano e uso.",
    "Over this month's quota ({used} of {quota}): the overage will be billed. See plan & usage.",
)
