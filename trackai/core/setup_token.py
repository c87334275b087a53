"""Pure decision of validate_meta_token (issue 16) from Meta's ``debug_token`` answer and a read of the pixel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trackai.core import setup_result as sr

REQUIRED_SCOPES = ("ads_management",)  # what sending server events needs (system-user tokens carry it)
EXPIRING_HOURS = 7 * 24


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def judge_token(debug: dict[str, Any], pixel: dict[str, Any], *, pixel_id: str, now: float) -> sr.ToolResult:
    """``debug``: the ``data`` object of debug_token; ``pixel``: the pixel read's JSON (``{"error": …}`` or
    ``{"id", "name"}``)."""
    tool = "validate_meta_token"
    scopes = sorted(debug.get("scopes") or [])
    expires_at = int(debug.get("expires_at") or 0)
    observed: dict[str, Any] = {
        "pixel_id": pixel_id,
        "is_valid": bool(debug.get("is_valid")),
        "token_type": debug.get("type") or "?",
        "token_name": debug.get("application") or debug.get("type") or "token",
        "scopes": ", ".join(scopes) or "—",
        "scope_list": scopes,
        "expires_at": _iso(expires_at) if expires_at else "never",
        "expiry_pt": f"expira em {_iso(expires_at)}" if expires_at else "não expira",
        "expiry_en": f"expires at {_iso(expires_at)}" if expires_at else "never expires",
    }
    if not debug.get("is_valid"):
        error = debug.get("error") or {}
        observed.update(
            error_code=error.get("code"),
            error_subcode=error.get("subcode"),
            error_message=error.get("message"),
        )
        if expires_at and expires_at <= now:
            return sr.result(tool, "token_expired", observed)
        return sr.result(tool, "token_invalid", observed)
    if expires_at and expires_at <= now:
        return sr.result(tool, "token_expired", observed)
    missing = [s for s in REQUIRED_SCOPES if s not in scopes]
    if missing:
        return sr.result(tool, "missing_scopes", {**observed, "missing_scopes": ", ".join(missing)})
    error = pixel.get("error") if isinstance(pixel, dict) else None
    if error or str(pixel.get("id")) != str(pixel_id):
        error = error or {}
        observed.update(
            error_code=error.get("code"),
            error_subcode=error.get("error_subcode"),
            error_message=error.get("message") or "pixel id differs",
        )
        return sr.result(tool, "pixel_not_accessible", observed)
    observed["pixel_name"] = pixel.get("name") or "—"
    if expires_at and expires_at - now < EXPIRING_HOURS * 3600:
        return sr.result(tool, "token_expiring", {**observed, "hours_left": int((expires_at - now) // 3600)})
    return sr.result(tool, "ok", observed)
