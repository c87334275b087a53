"""The browser tracking snippet (served at /api/v1/snippet/{tenant}.js and printed by ``trackai snippet``).

What it does (docs/tracking.md): first-party session id cookie ``_tai_sid`` (``tai_`` + 22 random
chars, 1 year); ``_fbc`` kept as Meta's Parameter Builder does (90 days; the fbclid comes from the URL,
or from the referrer when the landing URL lost it; an existing ``_fbc`` is kept verbatim, appendix
included, when its fbclid - its 4th dot-separated part - equals that one, otherwise rewritten as
``fb.<subdomainIndex>.<ms>.<fbclid>`` with the fbclid never decoded); posts
the click to /api/v1/track/click; appends the session id to checkout links (``src``/``sck`` for
Hotmart, Kiwify and Perfect Pay, ``client_reference_id`` for Stripe Payment Links).

Everything the snippet writes into a cookie is checked against the one grammar first (the session id of
``trackai.core.session_id``, the fbclid of ``trackai.core.fbc``, both injected as JS regexes below): a URL
such as ``?fbclid=abc;Domain=seller.com`` must not add cookie attributes.
"""

from __future__ import annotations

import json

from trackai.core import session_id
from trackai.core.fbc import FBCLID_PATTERN

PLATFORM_HOSTS = {
    "hotmart": ["pay.hotmart.com", "go.hotmart.com"],
    "kiwify": ["pay.kiwify.com.br", "kiwify.app"],
    "perfectpay": ["checkout.perfectpay.com.br", "go.perfectpay.com.br", "perfectpay.com.br"],
    "stripe": ["buy.stripe.com", "checkout.stripe.com"],
}
PLATFORM_PARAMS = {
    "hotmart": ["src", "sck"],
    "kiwify": ["src", "sck"],
    "perfectpay": ["src", "sck"],
    "stripe": ["client_reference_id"],
}

# How long the snippet waits for an IAB TCF CMP (__tcfapi) to answer before it sends without consent.
CMP_TIMEOUT_MS = 1500

# The fbclid grammar as a JavaScript regex literal (anchored like FBCLID_RE).
FBCLID_JS_PATTERN = f"/^{FBCLID_PATTERN}$/"

_TEMPLATE = r"""(function () {
  "use strict";
  var CFG = __CONFIG__;
  var SID_RE = __SID_RE__;
  var FBCLID_RE = __FBCLID_RE__;
  var DAY = 864e5;
  if (window.__trackai_loaded) { return; }
  window.__trackai_loaded = true;

  function getCookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name.replace(/[.$?*|{}()\[\]\\\/+^]/g, "\\$&") + "=([^;]*)"));
    return m ? m[1] : null;
  }
  function setCookie(name, value, days) {
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = name + "=" + value + "; Max-Age=" + Math.round(days * 86400) + "; Path=/; SameSite=Lax" + secure;
  }
  function randomId() {
    var alphabet = __SID_ALPHABET__;
    var bytes = new Uint8Array(__SID_LENGTH__), out = "";
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    for (var i = 0; i < bytes.length; i++) { out += alphabet[bytes[i] % alphabet.length]; }
    return "__SID_PREFIX__" + out;
  }
  // The fbclid exactly as it appears in the URL: never decoded, re-encoded or case-changed.
  function rawParam(search, name) {
    var m = search.match(new RegExp("[?&]" + name + "=([^&#]*)"));
    return m && m[1] ? m[1] : null;
  }

  // Consent (docs/privacy.md): when the tenant requires it (CFG.consent), nothing identifying is read,
  // written or sent until the page grants it: window.trackaiConsent = true | false set before the snippet,
  // window.trackai.setConsent(true | false) later, or IAB TCF v2 (__tcfapi; purpose 1, or GDPR not applying).
  var consent = CFG.consent ? null : true;
  var sid = getCookie("_tai_sid");
  if (!sid || !SID_RE.test(sid)) { sid = randomId(); }
  var fbc = null, fbp = null;
  // Meta's _fbc recipe (as its Parameter Builder): the URL's fbclid, else the referrer's (a redirect lost
  // it); write when missing or when it differs from the stored one's, whose appendix is kept.
  var fbclid = rawParam(location.search, "fbclid") ||
    rawParam((document.referrer || "").split("#")[0], "fbclid");
  if (fbclid && !FBCLID_RE.test(fbclid)) { fbclid = null; }  // not an fbclid: never written to a cookie

  function identify() {  // only with consent (or when the tenant does not require it)
    setCookie("_tai_sid", sid, 365);
    fbc = getCookie("_fbc");
    if (fbclid) {
      var stored = fbc ? fbc.split(".")[3] : null;
      if (!fbc || stored !== fbclid) {
        var labels = location.hostname.split(".").length;
        var subdomainIndex = /^[0-9.]+$/.test(location.hostname) ? 1 : Math.max(labels - 1, 0);
        fbc = "fb." + subdomainIndex + "." + Date.now() + "." + fbclid;
        setCookie("_fbc", fbc, 90);
      }
    }
    fbp = getCookie("_fbp");
  }
  function withoutFbclid(url) {
    return url ? url.replace(/([?&])fbclid=[^&#]*&?/, "$1").replace(/[?&](#|$)/, "$1") : url;
  }

  function send(eventType, extra) {
    var granted = consent === true;
    var body = {
      tenant_id: CFG.tenant, session_id: sid, event_type: eventType,
      url: granted ? location.href : withoutFbclid(location.href),
      referrer: (granted ? document.referrer : withoutFbclid(document.referrer)) || null,
      fbc: granted ? fbc : null, fbp: granted ? fbp : null,
      consent: granted, automation: navigator.webdriver === true
    };
    for (var k in (extra || {})) {
      if (Object.prototype.hasOwnProperty.call(extra, k)) { body[k] = granted ? extra[k] : null; }
    }
    var payload = JSON.stringify(body);
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(CFG.endpoint, new Blob([payload], {type: "text/plain"}))) { return; }
    } catch (e) { /* fall through to fetch */ }
    try { fetch(CFG.endpoint, {method: "POST", body: payload, keepalive: true, mode: "cors",
                               headers: {"Content-Type": "text/plain"}}); } catch (e) { /* never break the page */ }
  }

  function platformOf(host) {
    for (var p in CFG.hosts) {
      if (!Object.prototype.hasOwnProperty.call(CFG.hosts, p)) { continue; }
      var hosts = CFG.hosts[p];
      for (var i = 0; i < hosts.length; i++) {
        if (host === hosts[i] || host.slice(-hosts[i].length - 1) === "." + hosts[i]) { return p; }
      }
    }
    return null;
  }
  function decorate(a) {
    if (!a || !a.href) { return; }
    var url;
    try { url = new URL(a.href, location.href); } catch (e) { return; }
    var platform = platformOf(url.hostname);
    if (!platform) { return; }
    var params = CFG.params[platform], changed = false;
    for (var i = 0; i < params.length; i++) {
      if (!url.searchParams.get(params[i])) { url.searchParams.set(params[i], sid); changed = true; }
    }
    if (changed) { a.href = url.toString(); }
  }
  function decorateAll() {
    var links = document.getElementsByTagName("a");
    for (var i = 0; i < links.length; i++) { decorate(links[i]); }
  }
  document.addEventListener("click", function (ev) {
    var el = ev.target;
    while (el && el.tagName !== "A") { el = el.parentElement; }
    decorate(el);
  }, true);
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", decorateAll); } else { decorateAll(); }
  if (window.MutationObserver) { new MutationObserver(decorateAll).observe(document.documentElement, {childList: true, subtree: true}); }

  function setConsent(value) {
    consent = value === true;
    if (consent) { identify(); }
  }
  function start() {
    if (consent === null) { consent = false; }
    if (consent) { identify(); }
    send("click");
  }
  window.trackai = {
    sessionId: sid,
    checkoutUrl: function (href) { var a = document.createElement("a"); a.href = href; decorate(a); return a.href; },
    pageview: function () { send("pageview"); },
    lead: function (email, phone) { send("lead", {email: email || null, phone: phone || null}); },
    setConsent: setConsent
  };
  if (consent === null && (window.trackaiConsent === true || window.trackaiConsent === false)) {
    consent = window.trackaiConsent;
  }
  if (consent === null && typeof window.__tcfapi === "function") {
    var started = false;
    var once = function () { if (!started) { started = true; start(); } };
    setTimeout(once, CFG.cmpTimeoutMs);  // a CMP that never answers: no consent
    try {
      window.__tcfapi("addEventListener", 2, function (tcData, success) {
        if (!success || !tcData || started) { return; }
        if (tcData.eventStatus !== "tcloaded" && tcData.eventStatus !== "useractioncomplete") { return; }
        consent = tcData.gdprApplies === false ||
          !!(tcData.purpose && tcData.purpose.consents && tcData.purpose.consents[1] === true);
        once();
      });
    } catch (e) { once(); }
  } else {
    start();
  }
})();
"""

# The one-grammar constants, filled in once.
_SCRIPT = (
    _TEMPLATE.replace("__SID_RE__", session_id.JS_PATTERN)
    .replace("__SID_LENGTH__", str(session_id.RANDOM_LENGTH))
    .replace("__SID_PREFIX__", session_id.PREFIX)
    .replace("__SID_ALPHABET__", json.dumps(session_id.ALPHABET))
    .replace("__FBCLID_RE__", FBCLID_JS_PATTERN)
)


def render_snippet(
    tenant_id: str, base_url: str, platform: str | None = None, *, consent_required: bool = False
) -> str:
    if platform is not None and platform not in PLATFORM_HOSTS:
        raise ValueError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORM_HOSTS)}")
    platforms = [platform] if platform else list(PLATFORM_HOSTS)
    config = {
        "tenant": str(tenant_id),
        "endpoint": base_url.rstrip("/") + "/api/v1/track/click",
        "hosts": {p: PLATFORM_HOSTS[p] for p in platforms},
        "params": {p: PLATFORM_PARAMS[p] for p in platforms},
        "consent": bool(consent_required),  # issue 23: read the page's consent first (docs/privacy.md)
        "cmpTimeoutMs": CMP_TIMEOUT_MS,
    }
    return _SCRIPT.replace("__CONFIG__", json.dumps(config))  # last: config values are never rescanned
