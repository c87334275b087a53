"""Pure decisions of probe_landing_url and check_pixel_presence (issue 16): which redirect drops the ad's
parameters, and what a page's HTML says about the Meta pixel and our snippet."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from trackai.core import setup_result as sr

TRACKED_PARAMS = (
    "fbclid",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "src",
    "sck",
)
SLOW_MS = 3000


@dataclass(frozen=True)
class Hop:
    url: str
    status: int
    location: str | None
    elapsed_ms: int


def valid_url(url: str) -> bool:
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def tracked(url: str) -> dict[str, str]:
    """The attribution parameters of ``url`` (first value of each)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key in TRACKED_PARAMS and key not in out:
            out[key] = value
    return out


def next_url(hop: Hop) -> str | None:
    return urljoin(hop.url, hop.location) if hop.location else None


def judge_hops(start_url: str, hops: list[Hop], *, max_hops: int) -> sr.ToolResult:
    """The verdict on a finished hop-by-hop walk (the last hop is not a redirect, or max_hops was hit)."""
    tool = "probe_landing_url"
    wanted = tracked(start_url)
    chain = [{"url": h.url, "status": h.status, "location": h.location, "ms": h.elapsed_ms} for h in hops]
    total = sum(h.elapsed_ms for h in hops)
    base: dict[str, Any] = {"url": start_url, "hops": chain, "hop_count": len(hops), "total_ms": total}
    for index, hop in enumerate(hops, start=1):
        target = next_url(hop)
        if target is None or not 300 <= hop.status < 400:
            continue
        kept = tracked(target)
        dropped = [k for k, v in wanted.items() if kept.get(k) != v]
        if dropped:
            return sr.result(
                tool,
                "params_dropped",
                {
                    **base,
                    "hop": index,
                    "from_url": hop.url,
                    "to_url": target,
                    "hop_status": hop.status,
                    "dropped": ", ".join(dropped),
                    "dropped_params": dropped,
                    "final_url": hops[-1].url,
                },
            )
    last = hops[-1]
    if 300 <= last.status < 400 and last.location:
        return sr.result(tool, "too_many_redirects", {**base, "max_hops": max_hops})
    base.update(
        final_url=last.url,
        final_status=last.status,
        params=", ".join(k for k in wanted if k != "fbclid") or "UTM/src",
    )
    if last.status >= 400 or last.status < 200:
        return sr.result(tool, "http_error", base)
    if "fbclid" not in wanted:
        base["note"] = "fbclid absent from the probed URL: add ?fbclid=test to check it survives"
    if total > SLOW_MS:
        return sr.result(tool, "slow", base)
    return sr.result(tool, "ok", base)


# ------------------------------------------------------------------------------------------ page analysis
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>.*?</noscript\s*>", re.I | re.S)
_INIT = re.compile(r"""fbq\(\s*['"]init['"]\s*,\s*['"]?(\d{5,20})['"]?""", re.I)
_NOSCRIPT_PIXEL = re.compile(r"facebook\.com/tr/?\?[^\"'>]*\bid=(\d{5,20})", re.I)
_SNIPPET = re.compile(
    r"/api/v1/snippet/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.js", re.I
)


def judge_page(html: str, *, url: str, pixel_id: str, tenant_id: str, snippet_src: str) -> sr.ToolResult:
    tool = "check_pixel_presence"
    scripts_only = _NOSCRIPT.sub(" ", html)
    noscript_blocks = " ".join(m.group(0) for m in _NOSCRIPT.finditer(html))
    inits = _INIT.findall(scripts_only)
    noscript_ids = sorted(set(_NOSCRIPT_PIXEL.findall(noscript_blocks)))
    snippet_tenants = sorted({t.lower() for t in _SNIPPET.findall(scripts_only)})
    observed: dict[str, Any] = {
        "url": url,
        "pixel_id": pixel_id,
        "init_pixels": inits,
        "noscript_pixels": noscript_ids,
        "snippet_tenants": snippet_tenants,
        "snippet_src": snippet_src,
        "noscript_note": "",
        "noscript_note_en": "",
    }
    if not inits:
        if pixel_id in noscript_ids:
            return sr.result(tool, "noscript_only", observed)
        if noscript_ids:
            observed["noscript_note"] = f" (só <noscript> com {', '.join(noscript_ids)})"
            observed["noscript_note_en"] = f" (only <noscript> with {', '.join(noscript_ids)})"
        return sr.result(tool, "pixel_missing", observed)
    ours = inits.count(pixel_id)
    foreign = sorted(set(inits) - {pixel_id})
    if ours == 0:
        return sr.result(tool, "wrong_pixel", {**observed, "found_pixels": ", ".join(foreign)})
    mine = tenant_id.lower()
    if mine not in snippet_tenants:
        if snippet_tenants:
            return sr.result(
                tool, "snippet_other_tenant", {**observed, "other_tenants": ", ".join(snippet_tenants)}
            )
        return sr.result(tool, "snippet_missing", observed)
    if ours > 1:
        return sr.result(tool, "duplicate_pixel", {**observed, "init_count": ours})
    if foreign:
        return sr.result(tool, "foreign_pixel", {**observed, "foreign_pixels": ", ".join(foreign)})
    return sr.result(tool, "ok", observed)
