"""Pure decision of validate_gateway_webhook (issue 16): what this tenant's endpoint received from one
gateway lately, and exactly where in that gateway's panel to change what (../shared/reference/gateways.md:
where each secret lives, how each one authenticates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trackai.core import setup_result as sr

GATEWAY_NAMES = {"hotmart": "Hotmart", "kiwify": "Kiwify", "perfectpay": "Perfect Pay", "stripe": "Stripe"}

# Refusal reasons recorded by the ingest service (landing.webhook_rejections.reason) -> the tool's code.
REASON_CODES = {
    "bad_token": "bad_token",
    "bad_signature": "bad_signature",
    "missing_token": "missing_credential",
    "missing_signature": "missing_credential",
    "malformed_signature_header": "missing_credential",
    "no_v1_signature": "missing_credential",
    "too_many_signatures": "bad_signature",
    "malformed_credentials": "bad_token",
    "malformed_body": "missing_credential",
    "timestamp_outside_tolerance": "stale_timestamp",
}

# Where each thing lives in each panel, pt-BR and English.
PANEL: dict[str, dict[str, tuple[str, str]]] = {
    "hotmart": {
        "secret": (
            "Na Hotmart: Ferramentas → Webhook (API e notificações) → copie o Hottok de verificação da conta; ele chega no header X-HOTMART-HOTTOK. Para trocá-lo é preciso pedir ao suporte da Hotmart.",
            "In Hotmart: Tools → Webhook (API and notifications) → copy the account's verification Hottok; it arrives in the X-HOTMART-HOTTOK header. Changing it requires Hotmart support.",
        ),
        "url": (
            "Na Hotmart: Ferramentas → Webhook → Cadastrar webhook: versão 2.0.0, eventos de compra (PURCHASE_APPROVED, PURCHASE_REFUNDED, PURCHASE_CHARGEBACK…).",
            "In Hotmart: Tools → Webhook → Register webhook: version 2.0.0, purchase events (PURCHASE_APPROVED, PURCHASE_REFUNDED, PURCHASE_CHARGEBACK…).",
        ),
        "missing": (
            "O hottok não veio (nem no header X-HOTMART-HOTTOK nem no corpo). Na Hotmart: Ferramentas → Webhook → edite a configuração e escolha a versão 2.0.0 (a v1 envia formulário sem o header).",
            "The hottok did not come (neither in the X-HOTMART-HOTTOK header nor in the body). In Hotmart: Tools → Webhook → edit the configuration and pick version 2.0.0 (v1 posts a form without the header).",
        ),
        "format": (
            "Na Hotmart: Ferramentas → Webhook → edite a configuração e use a versão 2.0.0 (corpo JSON); a v1.0.0 não é suportada.",
            "In Hotmart: Tools → Webhook → edit the configuration and use version 2.0.0 (JSON body); v1.0.0 is not supported.",
        ),
    },
    "kiwify": {
        "secret": (
            "Na Kiwify: abra a configuração do webhook (onde a URL foi cadastrada) e copie o campo Token; a Kiwify assina o corpo com HMAC-SHA1 desse token e manda a assinatura em ?signature=.",
            "In Kiwify: open the webhook configuration (where the URL was registered) and copy its Token field; Kiwify signs the body with HMAC-SHA1 of that token and sends it in ?signature=.",
        ),
        "url": (
            "Na Kiwify: configuração de webhooks → criar webhook, gatilhos compra_aprovada, compra_reembolsada, chargeback (e boleto_gerado/pix_gerado se quiser os pendentes).",
            "In Kiwify: webhook settings → create webhook, triggers compra_aprovada, compra_reembolsada, chargeback (and boleto_gerado/pix_gerado for pending ones).",
        ),
        "missing": (
            "A Kiwify acrescenta ?signature= à URL cadastrada e não segue redirecionamentos: cadastre a URL exatamente como mostrada (https, sem barra final) e não passe por um encurtador ou proxy que remova a query string.",
            "Kiwify appends ?signature= to the registered URL and does not follow redirects: register the URL exactly as shown (https, no trailing slash), not through a shortener or proxy that strips the query string.",
        ),
        "format": (
            "O corpo não é um pedido de venda da Kiwify (webhooks bancários/Kiwify conta têm outro formato): cadastre a URL nos webhooks de vendas.",
            "The body is not a Kiwify sales order (banking/Kiwify account webhooks have another shape): register the URL under the sales webhooks.",
        ),
    },
    "perfectpay": {
        "secret": (
            "Na Perfect Pay: Ferramentas → Webhook - Vendas → abra o webhook → copie o token (32 caracteres); ele chega no campo token do corpo.",
            "In Perfect Pay: Tools → Webhook - Sales → open the webhook → copy the token (32 characters); it arrives in the body field token.",
        ),
        "url": (
            "Na Perfect Pay: Ferramentas → Webhook - Vendas → Adicionar: escolha os produtos, todos os status de venda e o formato JSON.",
            "In Perfect Pay: Tools → Webhook - Sales → Add: pick the products, every sale status and the JSON format.",
        ),
        "missing": (
            "O corpo chegou sem o campo token. Na Perfect Pay: Ferramentas → Webhook - Vendas → edite o webhook e escolha o formato de postback JSON.",
            "The body came without its token field. In Perfect Pay: Tools → Webhook - Sales → edit the webhook and pick the JSON postback format.",
        ),
        "format": (
            "Na Perfect Pay: Ferramentas → Webhook - Vendas → edite o webhook e escolha o formato de postback JSON.",
            "In Perfect Pay: Tools → Webhook - Sales → edit the webhook and pick the JSON postback format.",
        ),
    },
    "stripe": {
        "secret": (
            "No Stripe: Desenvolvedores → Webhooks → o endpoint desta URL → Segredo de assinatura → Revelar (whsec_…); cada endpoint tem o seu.",
            "In Stripe: Developers → Webhooks → this URL's endpoint → Signing secret → Reveal (whsec_…); each endpoint has its own.",
        ),
        "url": (
            "No Stripe: Desenvolvedores → Webhooks → Adicionar endpoint, eventos checkout.session.completed, checkout.session.async_payment_succeeded, charge.refunded, charge.dispute.created.",
            "In Stripe: Developers → Webhooks → Add endpoint, events checkout.session.completed, checkout.session.async_payment_succeeded, charge.refunded, charge.dispute.created.",
        ),
        "missing": (
            "O header Stripe-Signature não chegou: um proxy/CDN na frente do endpoint o remove, ou o envio não vem do Stripe. Cadastre a URL diretamente em Desenvolvedores → Webhooks.",
            "The Stripe-Signature header did not arrive: a proxy/CDN in front of the endpoint strips it, or the delivery is not from Stripe. Register the URL directly in Developers → Webhooks.",
        ),
        "format": (
            "No Stripe: Desenvolvedores → Webhooks → o endpoint → escolha eventos de Checkout/PaymentIntent (outros tipos não viram compras).",
            "In Stripe: Developers → Webhooks → the endpoint → pick Checkout/PaymentIntent events (other types do not become purchases).",
        ),
    },
}


@dataclass
class WebhookSeen:
    """What the endpoint saw for one tenant and gateway in the window (read by trackai.setup.tools)."""

    gateway: str
    tenant_id: str
    webhook_url: str
    window_hours: float
    secret_present: bool
    verified: int = 0
    last_verified_at: str | None = None
    refusals: dict[str, int] = field(default_factory=dict)  # reason -> hits
    last_refused_at: str | None = None
    refused_since_verified: int = 0
    reasons_since_verified: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_error: str | None = None
    unknown_refused: int = 0  # deliveries to an unknown tenant for this gateway (not attributable)
    # refusals the ingest service does not charge to any tenant (no credential at all: anyone could send
    # them to any URL), for this gateway: reason -> hits
    unattributed: dict[str, int] = field(default_factory=dict)
    tolerance_s: int = 300


def judge_webhook(seen: WebhookSeen) -> sr.ToolResult:
    tool = "validate_gateway_webhook"
    if seen.gateway not in GATEWAY_NAMES:
        return sr.result(
            tool, "unknown_gateway", {"gateway": seen.gateway, "gateways": ", ".join(GATEWAY_NAMES)}
        )
    panel = PANEL[seen.gateway]
    refused = sum(seen.refusals.values())
    observed: dict[str, Any] = {
        "gateway": seen.gateway,
        "gateway_name": GATEWAY_NAMES[seen.gateway],
        "tenant_id": seen.tenant_id,
        "webhook_url": seen.webhook_url,
        "window_hours": f"{seen.window_hours:g}",
        "verified": seen.verified,
        "last_verified_at": seen.last_verified_at,
        "refused": refused,
        "refusals_by_reason": dict(seen.refusals),
        "reasons": ", ".join(f"{k}: {v}" for k, v in sorted(seen.refusals.items())) or "—",
        "last_refused_at": seen.last_refused_at,
        "quarantined": seen.quarantined,
        "quarantine_error": seen.quarantine_error,
        "unknown_refused": seen.unknown_refused,
        "unattributed_by_reason": dict(seen.unattributed),
        "tolerance_s": seen.tolerance_s,
        "where_secret": panel["secret"][0],
        "where_secret_en": panel["secret"][1],
        "where_url": panel["url"][0],
        "where_url_en": panel["url"][1],
        "where_missing": panel["missing"][0],
        "where_missing_en": panel["missing"][1],
        "where_format": panel["format"][0],
        "where_format_en": panel["format"][1],
    }
    if not seen.secret_present:
        return sr.result(tool, "no_secret", observed)
    if seen.verified:
        if seen.quarantined:
            return sr.result(tool, "quarantined", observed)
        if seen.refused_since_verified:
            observed["refused"] = seen.refused_since_verified
            observed["reasons"] = ", ".join(
                f"{k}: {v}" for k, v in sorted(seen.reasons_since_verified.items())
            )
            return sr.result(tool, "refused_after_verified", observed)
        return sr.result(tool, "ok", observed)
    if refused:
        by_code: dict[str, int] = {}
        for reason, hits in seen.refusals.items():
            code = REASON_CODES.get(reason)
            if code:
                by_code[code] = by_code.get(code, 0) + hits
        if by_code:
            code = max(by_code, key=lambda c: (by_code[c], c))
            return sr.result(tool, code, {**observed, "refused_reason_count": by_code[code]})
    if seen.quarantined:
        return sr.result(tool, "quarantined", observed)
    missing = {r: n for r, n in seen.unattributed.items() if REASON_CODES.get(r) == "missing_credential"}
    if missing:
        observed["reasons"] = ", ".join(f"{k}: {v}" for k, v in sorted(missing.items()))
        observed["attributed"] = False  # no credential: the ingest service cannot tell whose they were
        return sr.result(
            tool, "missing_credential", {**observed, "refused_reason_count": sum(missing.values())}
        )
    if seen.unknown_refused:
        return sr.result(tool, "unknown_tenant", observed)
    return sr.result(tool, "nothing_received", observed)
