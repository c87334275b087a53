"""Pure part of generate_tracking_snippet (issue 16): the existing snippet (trackai.core.snippet) per
platform, with where to paste it."""

from __future__ import annotations

from trackai.core import setup_result as sr

# platform -> (name, snippet platform parameter, where pt-BR, where English)
PLATFORMS: dict[str, tuple[str, str | None, str, str]] = {
    "hotmart": (
        "Hotmart",
        "hotmart",
        "Cole na sua página de vendas (a que o anúncio abre), antes de </body>. O script acrescenta src/sck aos links "
        "pay.hotmart.com e go.hotmart.com; na Hotmart, mantenha o webhook 2.0.0 (ele devolve src/sck).",
        "Paste it on your sales page (the one the ad opens), before </body>. The script adds src/sck to the "
        "pay.hotmart.com and go.hotmart.com links; keep the Hotmart webhook on 2.0.0 (it returns src/sck).",
    ),
    "kiwify": (
        "Kiwify",
        "kiwify",
        "Cole na sua página de vendas, antes de </body>. O script acrescenta src/sck aos links pay.kiwify.com.br; "
        "a Kiwify os devolve em TrackingParameters no webhook.",
        "Paste it on your sales page, before </body>. The script adds src/sck to the pay.kiwify.com.br links; "
        "Kiwify returns them in TrackingParameters in the webhook.",
    ),
    "perfectpay": (
        "Perfect Pay",
        "perfectpay",
        "Cole na sua página de vendas, antes de </body>. O script acrescenta src/sck aos links do checkout Perfect "
        "Pay; eles voltam em metadata.src no postback.",
        "Paste it on your sales page, before </body>. The script adds src/sck to the Perfect Pay checkout links; "
        "they come back in metadata.src in the postback.",
    ),
    "stripe": (
        "Stripe Checkout",
        "stripe",
        "Cole na página que tem os links buy.stripe.com (Payment Links), antes de </body>: o script acrescenta "
        "client_reference_id. Em Checkout criado por API, passe o cookie _tai_sid em client_reference_id.",
        "Paste it on the page with the buy.stripe.com links (Payment Links), before </body>: the script adds "
        "client_reference_id. For API-created Checkout, pass the _tai_sid cookie as client_reference_id.",
    ),
    "html": (
        "HTML",
        None,
        "Cole em todas as páginas do funil, logo antes de </body>, depois do código base do Pixel da Meta.",
        "Paste it on every page of the funnel, right before </body>, after Meta's Pixel base code.",
    ),
    "wordpress": (
        "WordPress/Elementor",
        None,
        "WordPress: Aparência → Editor de temas não; use Elementor → Código personalizado → Adicionar novo → "
        "local '</body> - Fim', todas as páginas (ou o plugin WPCode → Rodapé). Limpe o cache do site depois.",
        "WordPress: not the theme editor; use Elementor → Custom code → Add new → location '</body> - End', all "
        "pages (or the WPCode plugin → Footer). Clear the site cache afterwards.",
    ),
}


def snippet_src(tenant_id: str, base_url: str, platform: str | None) -> str:
    query = f"?platform={platform}" if platform else ""
    return f"{base_url.rstrip('/')}/api/v1/snippet/{tenant_id}.js{query}"


def snippet_answer(tenant_id: str, base_url: str, platform: str) -> sr.ToolResult:
    tool = "generate_tracking_snippet"
    if platform not in PLATFORMS:
        return sr.result(tool, "unknown_platform", {"platform": platform, "platforms": ", ".join(PLATFORMS)})
    name, param, where_pt, where_en = PLATFORMS[platform]
    src = snippet_src(tenant_id, base_url, param)
    return sr.result(
        tool,
        "ok",
        {
            "platform": platform,
            "platform_name": name,
            "snippet_src": src,
            "snippet": f'<script async src="{src}"></script>',
            "where_pt": where_pt,
            "where_en": where_en,
        },
    )
