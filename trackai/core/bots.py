"""Which landing clicks are bots (pure: no I/O, no clock; issue 23, docs/privacy.md).

A flagged click is still landed (``landing.clicks.bot_reason``) so the seller can see what was filtered,
but the micro-batch never matches it (``trackai.pipeline.candidates``) and the marts leave it out of
match rates. Reasons, first that applies:

- ``blocked_network``: the address is inside one of the tenant's blocked networks (data-centre CIDRs the
  seller lists in ``privacy.tenant_settings.blocked_networks``);
- ``known_bot``: the user agent names a crawler, link previewer, monitor or HTTP library;
- ``headless``: the user agent is a headless browser (HeadlessChrome, PhantomJS, ...);
- ``automation``: the snippet saw ``navigator.webdriver`` (Selenium, Puppeteer, Playwright) and said so;
- ``impossible_rate``: one session sent more clicks in a minute than a person can
  (``TRACKAI_PRIVACY_BOT_MAX_CLICKS_PER_SESSION_PER_MIN``; the ingest passes its per-session count).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

REASONS = ("known_bot", "headless", "automation", "blocked_network", "impossible_rate")

# Crawlers, previewers, monitors and HTTP libraries seen on landing pages. Word-ish boundaries so that a
# real browser whose UA happens to contain e.g. "Robot" inside a device name is still matched carefully.
_KNOWN_BOT = re.compile(
    r"bot\b|bot/|crawler|spider|slurp|facebookexternalhit|facebookcatalog|meta-externalagent|"
    r"embedly|quora link preview|whatsapp/|telegrambot|skypeuripreview|bitlybot|"
    r"pingdom|uptimerobot|statuscake|site24x7|newrelicpinger|datadogsynthetics|"
    r"curl/|wget/|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|java/|okhttp|"
    r"libwww-perl|httpclient|node-fetch|axios/|scrapy|phpcrawl|ahrefs|semrush|mj12|dotbot|petalbot|"
    r"lighthouse|gtmetrix|pagespeed|chrome-lighthouse|google-inspectiontool|adsbot|mediapartners-google|"
    r"bingpreview|yandex|baiduspider|applebot|duckduckbot|sogou|exabot|ia_archiver|archive\.org_bot",
    re.IGNORECASE,
)
_HEADLESS = re.compile(r"headlesschrome|phantomjs|slimerjs|htmlunit|electron/.*headless", re.IGNORECASE)


def parse_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """CIDRs as networks; an unparsable entry raises ValueError (the settings command checks them)."""
    return tuple(ipaddress.ip_network(str(v).strip(), strict=False) for v in values if str(v).strip())


def in_networks(address: str | None, networks: Iterable) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def classify(
    user_agent: str | None,
    address: str | None = None,
    *,
    blocked_networks: Iterable = (),
    automation: bool = False,
    session_clicks_this_minute: int = 0,
    max_session_clicks_per_minute: int = 20,
) -> str | None:
    """The reason this click is a bot, or None. ``blocked_networks``: parsed (``parse_networks``)."""
    if in_networks(address, blocked_networks):
        return "blocked_network"
    ua = user_agent or ""
    if _HEADLESS.search(ua):
        return "headless"
    if _KNOWN_BOT.search(ua):
        return "known_bot"
    if automation:
        return "automation"
    if session_clicks_this_minute > max_session_clicks_per_minute:
        return "impossible_rate"
    return None
