"""What every setup tool answers (issue 16): a status, a specific code, what was observed and the next action,
in Portuguese of Brazil and in English. Pure: the tools (trackai.setup.tools) decide with the pure modules
``setup_*`` and build their answer here, so the CLI, the console wizard and the MCP server print the same words.

A message is never generic: each (tool, code) has its own text, filled from what the tool observed
(``{pixel_id}``, ``{hop}``…). ``result()`` refuses a code without a message, so a new failure cannot ship
without its explanation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, WARN = "pass", "fail", "warn"
TOOLS = (
    "validate_meta_token",
    "validate_gateway_webhook",
    "probe_landing_url",
    "check_pixel_presence",
    "send_test_capi_event",
    "generate_tracking_snippet",
)


@dataclass(frozen=True)
class Text:
    pt: str
    en: str


@dataclass
class ToolResult:
    tool: str
    status: str  # pass | fail | warn
    code: str
    message: Text
    next_action: Text
    observed: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["message"] = {"pt-BR": self.message.pt, "en": self.message.en}
        out["next_action"] = {"pt-BR": self.next_action.pt, "en": self.next_action.en}
        return out


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: str, values: dict[str, Any]) -> str:
    return template.format_map(_Safe({k: ("—" if v is None else v) for k, v in values.items()}))


# (tool, code) -> status, message pt, message en, next action pt, next action en
MESSAGES: dict[tuple[str, str], tuple[str, str, str, str, str]] = {}


def _m(tool: str, code: str, status: str, msg_pt: str, msg_en: str, next_pt: str, next_en: str) -> None:
    if tool not in TOOLS:
        raise ValueError(tool)
    if (tool, code) in MESSAGES:
        raise ValueError(f"{tool}/{code} declared twice")
    MESSAGES[(tool, code)] = (status, msg_pt, msg_en, next_pt, next_en)


def result(
    tool: str, code: str, observed: dict[str, Any] | None = None, event_id: str | None = None
) -> ToolResult:
    """The answer of ``tool`` for ``code``, its texts filled from ``observed``."""
    status, msg_pt, msg_en, next_pt, next_en = MESSAGES[(tool, code)]
    values = dict(observed or {})
    return ToolResult(
        tool=tool,
        status=status,
        code=code,
        message=Text(_fill(msg_pt, values), _fill(msg_en, values)),
        next_action=Text(_fill(next_pt, values), _fill(next_en, values)),
        observed=values,
        event_id=event_id,
    )


def codes(tool: str) -> list[str]:
    return [c for (t, c) in MESSAGES if t == tool]


_SYSTEM_USER_PT = (
    "Crie um token de usuário do sistema: business.facebook.com → Configurações do negócio → Usuários → "
    "Usuários do sistema → Adicionar (função Admin) → Atribuir ativos → Conjuntos de dados/Pixels → {pixel_id} "
    "com 'Gerenciar' → Gerar novo token com as permissões ads_management e business_management, validade "
    "'Nunca'. Cadastre-o com `trackai tenant set-secret --kind meta_token`."
)
_SYSTEM_USER_EN = (
    "Create a system-user token: business.facebook.com → Business settings → Users → System users → Add "
    "(Admin role) → Assign assets → Datasets/Pixels → {pixel_id} with 'Manage' → Generate new token with the "
    "ads_management and business_management permissions, expiry 'Never'. Store it with "
    "`trackai tenant set-secret --kind meta_token`."
)

# ------------------------------------------------------------------------------------ validate_meta_token
T = "validate_meta_token"
_m(
    T,
    "ok",
    PASS,
    "Token válido ({token_type}), permissões {scopes}, {expiry_pt}; pode enviar eventos ao pixel {pixel_id} ({pixel_name}).",
    "Token valid ({token_type}), scopes {scopes}, {expiry_en}; it can send events to pixel {pixel_id} ({pixel_name}).",
    "Nada a fazer. Próximo passo: enviar um evento de teste (send_test_capi_event).",
    "Nothing to do. Next step: send a test event (send_test_capi_event).",
)
_m(
    T,
    "no_token",
    FAIL,
    "Nenhum token da Meta cadastrado para esta conta.",
    "No Meta token is stored for this account.",
    _SYSTEM_USER_PT,
    _SYSTEM_USER_EN,
)
_m(
    T,
    "token_invalid",
    FAIL,
    "A Meta diz que o token não é válido (código {error_code}, subcódigo {error_subcode}: {error_message}).",
    "Meta says the token is not valid (code {error_code}, subcode {error_subcode}: {error_message}).",
    "O token foi revogado ou expirou (senha trocada, usuário removido). " + _SYSTEM_USER_PT,
    "The token was revoked or expired (password changed, user removed). " + _SYSTEM_USER_EN,
)
_m(
    T,
    "token_expired",
    FAIL,
    "O token expirou em {expires_at}.",
    "The token expired at {expires_at}.",
    "Tokens de usuário comum expiram. " + _SYSTEM_USER_PT,
    "Personal user tokens expire. " + _SYSTEM_USER_EN,
)
_m(
    T,
    "token_expiring",
    WARN,
    "O token funciona, mas expira em {expires_at} (em {hours_left} h); depois disso nenhuma compra chega à Meta.",
    "The token works but expires at {expires_at} (in {hours_left} h); after that no purchase reaches Meta.",
    "Troque-o por um token que não expira. " + _SYSTEM_USER_PT,
    "Replace it with a token that never expires. " + _SYSTEM_USER_EN,
)
_m(
    T,
    "missing_scopes",
    FAIL,
    "O token não tem as permissões {missing_scopes} (tem: {scopes}).",
    "The token lacks the permissions {missing_scopes} (it has: {scopes}).",
    "Gere o token de novo marcando ads_management e business_management. " + _SYSTEM_USER_PT,
    "Generate the token again ticking ads_management and business_management. " + _SYSTEM_USER_EN,
)
_m(
    T,
    "pixel_not_accessible",
    FAIL,
    "O token é válido, mas não enxerga o pixel {pixel_id} (Meta: código {error_code}, subcódigo {error_subcode}: {error_message}).",
    "The token is valid but cannot see pixel {pixel_id} (Meta: code {error_code}, subcode {error_subcode}: {error_message}).",
    "Em business.facebook.com → Usuários do sistema → {token_name} → Atribuir ativos → Conjuntos de dados → marque {pixel_id} "
    "com 'Gerenciar'. Confira também se {pixel_id} é o ID do pixel (Gerenciador de Eventos → Configurações).",
    "In business.facebook.com → System users → {token_name} → Assign assets → Datasets → tick {pixel_id} with "
    "'Manage'. Also check {pixel_id} is the pixel id (Events Manager → Settings).",
)
_m(
    T,
    "graph_unreachable",
    FAIL,
    "Não foi possível falar com a Graph API ({graph_error}).",
    "Could not reach the Graph API ({graph_error}).",
    "Tente de novo em alguns minutos; se persistir, verifique a saída de rede do servidor (TRACKAI_META_GRAPH_URL={graph_url}).",
    "Try again in a few minutes; if it persists, check the server's outbound network (TRACKAI_META_GRAPH_URL={graph_url}).",
)

# ------------------------------------------------------------------------------- validate_gateway_webhook
T = "validate_gateway_webhook"
_m(
    T,
    "ok",
    PASS,
    "{gateway_name}: {verified} entrega(s) verificada(s) nas últimas {window_hours} h (última às {last_verified_at}); {refused} recusada(s), {quarantined} em quarentena.",
    "{gateway_name}: {verified} verified deliver(ies) in the last {window_hours} h (last at {last_verified_at}); {refused} refused, {quarantined} quarantined.",
    "Nada a fazer no painel {gateway_name}.",
    "Nothing to change in the {gateway_name} panel.",
)
_m(
    T,
    "no_secret",
    FAIL,
    "Esta conta não tem o segredo de {gateway_name} cadastrado: toda entrega é recusada como 'tenant desconhecido'.",
    "This account has no {gateway_name} secret stored: every delivery is refused as 'unknown tenant'.",
    "{where_secret} Cadastre-o com `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
    "{where_secret_en} Store it with `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
)
_m(
    T,
    "nothing_received",
    FAIL,
    "Nenhuma entrega de {gateway_name} chegou nas últimas {window_hours} h (nem recusada).",
    "No {gateway_name} delivery arrived in the last {window_hours} h (not even a refused one).",
    "{where_url} Cole exatamente {webhook_url} e dispare um envio de teste.",
    "{where_url_en} Paste exactly {webhook_url} and send a test delivery.",
)
_m(
    T,
    "bad_token",
    FAIL,
    "{refused_reason_count} entrega(s) de {gateway_name} recusada(s) por token errado (última às {last_refused_at}); nenhuma verificada.",
    "{refused_reason_count} {gateway_name} deliver(ies) refused for a wrong token (last at {last_refused_at}); none verified.",
    "{where_secret} O valor cadastrado aqui é diferente; copie-o de novo e cadastre com `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
    "{where_secret_en} The value stored here differs; copy it again and store it with `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
)
_m(
    T,
    "bad_signature",
    FAIL,
    "{refused_reason_count} entrega(s) de {gateway_name} com assinatura inválida (última às {last_refused_at}); nenhuma verificada.",
    "{refused_reason_count} {gateway_name} deliver(ies) with an invalid signature (last at {last_refused_at}); none verified.",
    "{where_secret} A assinatura é calculada com esse segredo: o cadastrado aqui é outro. Copie-o de novo e cadastre com `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
    "{where_secret_en} The signature is computed with that secret: the one stored here differs. Copy it again and store it with `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
)
_m(
    T,
    "missing_credential",
    FAIL,
    "{refused_reason_count} entrega(s) de {gateway_name} chegaram sem credencial ({reasons}); nenhuma verificada.",
    "{refused_reason_count} {gateway_name} deliver(ies) arrived without a credential ({reasons}); none verified.",
    "{where_missing}",
    "{where_missing_en}",
)
_m(
    T,
    "stale_timestamp",
    FAIL,
    "{refused_reason_count} entrega(s) Stripe recusadas por timestamp fora da tolerância de {tolerance_s} s (última às {last_refused_at}).",
    "{refused_reason_count} Stripe deliver(ies) refused for a timestamp outside the {tolerance_s} s tolerance (last at {last_refused_at}).",
    "A assinatura confere, mas o evento é velho: são reenvios manuais de eventos antigos ou o relógio do servidor está errado. "
    "Verifique o relógio (NTP) e, no Stripe, Desenvolvedores → Webhooks → o endpoint → reenvie um evento novo (ou `stripe trigger checkout.session.completed`).",
    "The signature matches but the event is old: manual resends of old events or a wrong server clock. Check the clock (NTP) "
    "and, in Stripe, Developers → Webhooks → the endpoint → resend a new event (or `stripe trigger checkout.session.completed`).",
)
_m(
    T,
    "unknown_tenant",
    FAIL,
    "Nenhuma entrega desta conta; {unknown_refused} entrega(s) de {gateway_name} para uma conta desconhecida nas últimas {window_hours} h (URL com outro ID).",
    "No delivery for this account; {unknown_refused} {gateway_name} deliver(ies) to an unknown account in the last {window_hours} h (URL with another id).",
    "{where_url} A URL deve terminar com o ID desta conta: {webhook_url}",
    "{where_url_en} The URL must end with this account's id: {webhook_url}",
)
_m(
    T,
    "quarantined",
    WARN,
    "{verified} entrega(s) verificada(s), mas {quarantined} em quarentena (corpo não reconhecido: {quarantine_error}).",
    "{verified} verified deliver(ies), but {quarantined} quarantined (body not understood: {quarantine_error}).",
    "{where_format}",
    "{where_format_en}",
)
_m(
    T,
    "refused_after_verified",
    WARN,
    "{verified} entrega(s) verificada(s), mas {refused} recusada(s) desde então ({reasons}).",
    "{verified} verified deliver(ies), but {refused} refused since ({reasons}).",
    "{where_secret} Se o segredo foi trocado no painel, cadastre o novo com `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
    "{where_secret_en} If the secret was changed in the panel, store the new one with `trackai tenant set-secret --tenant {tenant_id} --kind {gateway}`.",
)
_m(
    T,
    "unknown_gateway",
    FAIL,
    "Gateway '{gateway}' desconhecido; use um de: {gateways}.",
    "Unknown gateway '{gateway}'; use one of: {gateways}.",
    "Escolha o gateway do checkout desta conta.",
    "Pick the gateway of this account's checkout.",
)

# ------------------------------------------------------------------------------------- probe_landing_url
T = "probe_landing_url"
_m(
    T,
    "ok",
    PASS,
    "{hop_count} salto(s) até {final_url} (HTTP {final_status}, {total_ms} ms); fbclid e {params} sobrevivem a todos os redirecionamentos; TLS válido.",
    "{hop_count} hop(s) to {final_url} (HTTP {final_status}, {total_ms} ms); fbclid and {params} survive every redirect; TLS valid.",
    "Nada a fazer. Próximo passo: conferir o pixel na página (check_pixel_presence).",
    "Nothing to do. Next step: check the pixel on the page (check_pixel_presence).",
)
_m(
    T,
    "params_dropped",
    FAIL,
    "O redirecionamento {hop} ({from_url} → HTTP {hop_status} → {to_url}) descarta {dropped}: a compra perde a atribuição do anúncio.",
    "Redirect {hop} ({from_url} → HTTP {hop_status} → {to_url}) drops {dropped}: the purchase loses the ad's attribution.",
    "Configure esse redirecionamento para manter a query string (no WordPress: plugin Redirection → 'Passar parâmetros da URL'; "
    "em nginx: `return 301 https://destino$request_uri;`), ou use no anúncio a URL final {final_url}.",
    "Make that redirect keep the query string (WordPress: Redirection plugin → 'Pass URL parameters'; nginx: "
    "`return 301 https://target$request_uri;`), or use the final URL {final_url} in the ad.",
)
_m(
    T,
    "tls_invalid",
    FAIL,
    "O certificado TLS de {host} não é aceito: {tls_error}{tls_detail}.",
    "The TLS certificate of {host} is not accepted: {tls_error}{tls_detail_en}.",
    "Renove o certificado (Let's Encrypt: `certbot renew`; hospedagem: painel → SSL/TLS → reemitir). Navegadores mostram um aviso e o Facebook não abre a página.",
    "Renew the certificate (Let's Encrypt: `certbot renew`; hosting: panel → SSL/TLS → reissue). Browsers show a warning and Facebook will not open the page.",
)
_m(
    T,
    "http_error",
    FAIL,
    "{final_url} respondeu HTTP {final_status} após {hop_count} salto(s).",
    "{final_url} answered HTTP {final_status} after {hop_count} hop(s).",
    "Corrija a página (ela deve responder 200) ou aponte o anúncio para a URL certa.",
    "Fix the page (it must answer 200) or point the ad at the right URL.",
)
_m(
    T,
    "too_many_redirects",
    FAIL,
    "Mais de {max_hops} redirecionamentos a partir de {url} (laço?).",
    "More than {max_hops} redirects from {url} (a loop?).",
    "Revise as regras de redirecionamento do site; a página do anúncio deve chegar ao destino em 1-2 saltos.",
    "Review the site's redirect rules; the ad's page should reach its target in 1-2 hops.",
)
_m(
    T,
    "unreachable",
    FAIL,
    "Não foi possível abrir {url}: {error}.",
    "Could not open {url}: {error}.",
    "Confira o endereço (DNS, porta, site no ar) e tente de novo.",
    "Check the address (DNS, port, site up) and try again.",
)
_m(
    T,
    "slow",
    WARN,
    "A página carrega, mas leva {total_ms} ms até o HTML ({hop_count} salto(s)); parâmetros preservados.",
    "The page loads but takes {total_ms} ms to the HTML ({hop_count} hop(s)); parameters kept.",
    "Páginas lentas perdem cliques antes do script rodar: reduza redirecionamentos e ative cache.",
    "Slow pages lose clicks before the script runs: cut redirects and enable caching.",
)
_m(
    T,
    "invalid_url",
    FAIL,
    "'{url}' não é uma URL http(s) válida.",
    "'{url}' is not a valid http(s) URL.",
    "Informe a URL completa da página do anúncio, por exemplo https://seusite.com.br/oferta.",
    "Give the full URL of the ad's page, e.g. https://yoursite.com/offer.",
)

# ---------------------------------------------------------------------------------- check_pixel_presence
T = "check_pixel_presence"
_m(
    T,
    "ok",
    PASS,
    "Pixel {pixel_id} iniciado com fbq('init') e o script Track AI desta conta presentes em {url}.",
    "Pixel {pixel_id} initialised with fbq('init') and this account's Track AI script found on {url}.",
    "Nada a fazer. Próximo passo: enviar um evento de teste (send_test_capi_event).",
    "Nothing to do. Next step: send a test event (send_test_capi_event).",
)
_m(
    T,
    "pixel_missing",
    FAIL,
    "Nenhum fbq('init', …) em {url}{noscript_note}.",
    "No fbq('init', …) on {url}{noscript_note_en}.",
    "Cole o código base do Pixel (Gerenciador de Eventos → {pixel_id} → Configurações → Instalar código manualmente) antes de </head> e, logo depois, o script Track AI (generate_tracking_snippet).",
    "Paste the Pixel base code (Events Manager → {pixel_id} → Settings → Install code manually) before </head> and, right after it, the Track AI script (generate_tracking_snippet).",
)
_m(
    T,
    "noscript_only",
    FAIL,
    "O pixel {pixel_id} aparece só dentro de <noscript> em {url}: navegadores com JavaScript não o executam.",
    "Pixel {pixel_id} appears only inside <noscript> on {url}: browsers with JavaScript never run it.",
    "Cole o código base completo (o bloco <script> com fbq('init', '{pixel_id}')), não só a imagem <noscript>.",
    "Paste the whole base code (the <script> block with fbq('init', '{pixel_id}')), not only the <noscript> image.",
)
_m(
    T,
    "wrong_pixel",
    FAIL,
    "A página inicia o pixel {found_pixels}, não o {pixel_id} desta conta.",
    "The page initialises pixel {found_pixels}, not this account's {pixel_id}.",
    "Troque o ID em fbq('init', '…') para '{pixel_id}' (ou, se {found_pixels} for o certo, corrija o pixel da conta com o operador).",
    "Change the id in fbq('init', '…') to '{pixel_id}' (or, if {found_pixels} is right, have an operator fix the account's pixel).",
)
_m(
    T,
    "duplicate_pixel",
    WARN,
    "O pixel {pixel_id} é iniciado {init_count} vezes em {url} (eventos em dobro no navegador).",
    "Pixel {pixel_id} is initialised {init_count} times on {url} (browser events counted twice).",
    "Deixe um único fbq('init', '{pixel_id}'): remova o do plugin (PixelYourSite, Elementor → Integrações) ou o colado à mão.",
    "Keep one fbq('init', '{pixel_id}'): remove the plugin's (PixelYourSite, Elementor → Integrations) or the hand-pasted one.",
)
_m(
    T,
    "foreign_pixel",
    WARN,
    "Além do {pixel_id}, a página inicia outro(s) pixel(s): {foreign_pixels}.",
    "Besides {pixel_id}, the page initialises other pixel(s): {foreign_pixels}.",
    "Se não forem seus (agência antiga, tema), remova-os: cada compra seria contada em outra conta.",
    "If they are not yours (former agency, theme), remove them: each purchase would be counted in another account.",
)
_m(
    T,
    "snippet_missing",
    FAIL,
    "O pixel {pixel_id} está na página, mas o script Track AI desta conta ({snippet_src}) não.",
    "Pixel {pixel_id} is on the page but this account's Track AI script ({snippet_src}) is not.",
    "Cole o script de generate_tracking_snippet antes de </body>; sem ele o clique não é ligado à compra.",
    "Paste the script from generate_tracking_snippet before </body>; without it the click is not tied to the purchase.",
)
_m(
    T,
    "snippet_other_tenant",
    FAIL,
    "A página carrega o script Track AI de outra conta ({other_tenants}).",
    "The page loads another account's Track AI script ({other_tenants}).",
    "Substitua-o pelo script desta conta (generate_tracking_snippet): {snippet_src}",
    "Replace it with this account's script (generate_tracking_snippet): {snippet_src}",
)
_m(
    T,
    "fetch_failed",
    FAIL,
    "Não foi possível ler {url}: {error}.",
    "Could not read {url}: {error}.",
    "Rode probe_landing_url nessa URL para ver o motivo (TLS, redirecionamentos, HTTP).",
    "Run probe_landing_url on that URL to see why (TLS, redirects, HTTP).",
)

# ---------------------------------------------------------------------------------- send_test_capi_event
T = "send_test_capi_event"
_m(
    T,
    "ok",
    PASS,
    "A Meta recebeu o evento de teste ({events_received} evento, event_id {event_id}, fbtrace_id {fbtrace_id}) com o código {test_event_code}.",
    "Meta received the test event ({events_received} event, event_id {event_id}, fbtrace_id {fbtrace_id}) with code {test_event_code}.",
    "Abra Gerenciador de Eventos → {pixel_id} → Eventos de teste: a Purchase de teste aparece lá. A publicação do GTM está liberada.",
    "Open Events Manager → {pixel_id} → Test events: the test Purchase shows there. Publishing GTM is unlocked.",
)
_m(
    T,
    "no_test_code",
    FAIL,
    "Nenhum test_event_code informado nem cadastrado: sem ele o evento contaria como compra real.",
    "No test_event_code given or stored: without it the event would count as a real purchase.",
    "Copie o código em Gerenciador de Eventos → {pixel_id} → Eventos de teste → 'Confirmar eventos do servidor' (ex.: TEST12345) e rode de novo com test_event_code.",
    "Copy the code from Events Manager → {pixel_id} → Test events → 'Confirm server events' (e.g. TEST12345) and run again with test_event_code.",
)
_m(
    T,
    "no_token",
    FAIL,
    "Nenhum token da Meta cadastrado: o evento não pode ser enviado.",
    "No Meta token stored: the event cannot be sent.",
    _SYSTEM_USER_PT,
    _SYSTEM_USER_EN,
)
_m(
    T,
    "token_invalid",
    FAIL,
    "A Meta recusou o token (código {error_code}: {error_message}).",
    "Meta refused the token (code {error_code}: {error_message}).",
    "Rode validate_meta_token para o diagnóstico. " + _SYSTEM_USER_PT,
    "Run validate_meta_token for the diagnosis. " + _SYSTEM_USER_EN,
)
_m(
    T,
    "pixel_not_accessible",
    FAIL,
    "A Meta não deixa este token enviar ao pixel {pixel_id} (código {error_code}, subcódigo {error_subcode}: {error_message}).",
    "Meta does not let this token send to pixel {pixel_id} (code {error_code}, subcode {error_subcode}: {error_message}).",
    "business.facebook.com → Usuários do sistema → Atribuir ativos → Conjuntos de dados → {pixel_id} com 'Gerenciar'.",
    "business.facebook.com → System users → Assign assets → Datasets → {pixel_id} with 'Manage'.",
)
_m(
    T,
    "event_refused",
    FAIL,
    "A Meta recusou o evento (código {error_code}, subcódigo {error_subcode}: {error_message}).",
    "Meta refused the event (code {error_code}, subcode {error_subcode}: {error_message}).",
    "Leia a mensagem da Meta acima; o evento de teste é montado como uma compra real, então o mesmo erro bloquearia as compras. Abra um chamado se não ficar claro.",
    "Read Meta's message above; the test event is built like a real purchase, so the same error would block purchases. Open a case if it is unclear.",
)
_m(
    T,
    "not_received",
    FAIL,
    "A Graph API respondeu 200, mas com events_received = {events_received} (fbtrace_id {fbtrace_id}).",
    "The Graph API answered 200 but with events_received = {events_received} (fbtrace_id {fbtrace_id}).",
    "Confira o código {test_event_code} em Eventos de teste (ele muda ao reabrir a tela) e tente de novo.",
    "Check code {test_event_code} in Test events (it changes when the screen is reopened) and try again.",
)
_m(
    T,
    "graph_unavailable",
    FAIL,
    "A Graph API não respondeu a tempo ou falhou ({error_message}); {attempts} tentativa(s).",
    "The Graph API did not answer in time or failed ({error_message}); {attempts} attempt(s).",
    "Falha passageira da Meta ou da rede: tente de novo em alguns minutos.",
    "A transient Meta or network failure: try again in a few minutes.",
)

# ----------------------------------------------------------------------------- generate_tracking_snippet
T = "generate_tracking_snippet"
_m(
    T,
    "ok",
    PASS,
    "Script de rastreamento para {platform_name} gerado ({snippet_src}).",
    "Tracking script for {platform_name} generated ({snippet_src}).",
    "{where_pt}",
    "{where_en}",
)
_m(
    T,
    "unknown_platform",
    FAIL,
    "Plataforma '{platform}' desconhecida; use uma de: {platforms}.",
    "Unknown platform '{platform}'; use one of: {platforms}.",
    "Escolha a plataforma do checkout/site desta conta.",
    "Pick the checkout/site platform of this account.",
)
del T
