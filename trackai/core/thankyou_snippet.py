"""The browser side of pixel-CAPI dedupe: the thank-you-page snippet and the GTM Purchase tag compute the
same ``event_id`` as the server (``trackai.core.event_id``) for the same order, so Meta deduplicates the
browser Purchase and the CAPI Purchase (docs/provisioning.md, docs/tracking.md).

event_id = hex SHA-256 of ``trackai.v1|<tenant_id lowercase>|<order_id as the gateway sent it>|Purchase``,
computed in the browser with ``crypto.subtle.digest`` (secure contexts: https, or http on localhost).

``EVENT_ID_JS`` is the one JavaScript definition; the snippet and the GTM template's tag embed it.
"""

from __future__ import annotations

import json
import re

from trackai.core.event_id import CANONICAL_PREFIX

# Query parameters a thank-you URL may carry the order id in, by checkout platform (first present wins).
ORDER_PARAMS = ("order_id", "transaction", "order", "orderId", "payment_intent", "session_id")

EVENT_ID_JS = (
    r"""function trackaiEventId(tenantId, orderId, eventName) {
  var text = "__PREFIX__|" + String(tenantId).toLowerCase() + "|" + String(orderId) + "|" + (eventName || "Purchase");
  return window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (buf) {
    var bytes = new Uint8Array(buf), hex = "";
    for (var i = 0; i < bytes.length; i++) { hex += ("0" + bytes[i].toString(16)).slice(-2); }
    return hex;
  });
}"""
).replace("__PREFIX__", CANONICAL_PREFIX)

_TEMPLATE = r"""(function () {
  "use strict";
  var CFG = __CONFIG__;
  __EVENT_ID_JS__
  function orderId() {
    if (window.trackaiOrderId) { return String(window.trackaiOrderId); }
    var params = new URLSearchParams(location.search);
    for (var i = 0; i < CFG.orderParams.length; i++) {
      var v = params.get(CFG.orderParams[i]);
      if (v) { return v; }
    }
    return null;
  }
  var order = orderId();
  if (!order) { return; }
  trackaiEventId(CFG.tenant, order, "Purchase").then(function (eventId) {
    window.trackaiPurchase = {event_id: eventId, order_id: order};
    (window.dataLayer = window.dataLayer || []).push(
      {event: "trackai.purchase", trackai_event_id: eventId, transaction_id: order});
    if (typeof window.fbq === "function") {
      var data = {content_type: "product", order_id: order};
      if (window.trackaiValue != null) { data.value = Number(window.trackaiValue); data.currency = window.trackaiCurrency || "BRL"; }
      window.fbq("track", "Purchase", data, {eventID: eventId});
    }
  });
})();
"""

_GTM_ID = re.compile(r"^GTM-[A-Z0-9]{4,12}$")


def render_thankyou_snippet(tenant_id: str, order_params: tuple[str, ...] = ORDER_PARAMS) -> str:
    """The script for a thank-you page without GTM: reads the order id (``window.trackaiOrderId`` or the
    URL), computes the event_id and sends ``fbq('track', 'Purchase', …, {eventID})`` when the pixel is on the
    page; it also pushes ``trackai.purchase`` to the dataLayer and sets ``window.trackaiPurchase``."""
    config = {"tenant": str(tenant_id).lower(), "orderParams": list(order_params)}
    return _TEMPLATE.replace("__EVENT_ID_JS__", EVENT_ID_JS).replace("__CONFIG__", json.dumps(config))


def gtm_loader(tagging_server_url: str, gtm_public_id: str) -> str:
    """The GTM web container loaded from the tenant's first-party tagging server (Stape serves gtm.js)."""
    if not _GTM_ID.match(gtm_public_id):
        raise ValueError(f"not a GTM container id: {gtm_public_id!r}")
    base = tagging_server_url.rstrip("/")
    if not base.startswith("https://"):
        raise ValueError("the tagging server URL must be https")
    return (
        "<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});"
        "var f=d.getElementsByTagName(s)[0],j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;"
        f"j.src='{base}/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);}})"
        f"(window,document,'script','dataLayer','{gtm_public_id}');</script>"
    )
