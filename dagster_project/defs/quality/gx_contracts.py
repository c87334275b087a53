"""Data contracts for conversions, clicks and dispatch_attempts, run with Great Expectations 1.x.

GX is imported lazily (inside ``validate``) so loading the code location stays fast; dagster-ge is
not used (it pins GX < 1). Rows landed in the last ``gx_window_hours`` are read from Postgres into
pandas and validated with an ephemeral GX context; the result becomes an ``AlarmResult`` (and the
asset check's metadata): success ratio and the failing expectations with a few example values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from dagster_project.defs.quality.alarms import ERROR, AlarmResult, runbook_url
from dagster_project.defs.quality.config import AlarmThresholds
from dagster_project.lib import keys

HASH_RE = r"^[0-9a-f]{64}$"
# Something that looks like a plaintext e-mail, or a formatted phone number: "+<digits...>" or a
# separated national form like "(11) 91234-5678" / "11 91234 5678". Bare digit strings are NOT
# flagged (they are indistinguishable from numeric order/session ids). SHA-256 hex matches neither.
EMAIL_RE = r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}"
PHONE_RE = r"^(?:\+\d[\d\s().-]{7,18}|\(?\d{2,3}\)?[\s.-]?\d{4,5}[\s.-]\d{4})$"
_ISO_4217_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
"""
ISO_4217 = sorted(set(_ISO_4217_CODES.split()))
FUTURE_SKEW_S = 300  # event_time may run ahead of our clock by at most 5 minutes


@dataclass(frozen=True)
class Contract:
    name: str
    asset_key: tuple[str, ...]
    query: str  # %(hours)s and %(limit)s; adds seconds_ahead = event time - now()
    expectations: tuple[tuple[str, dict[str, Any]], ...]
    free_text_columns: tuple[str, ...]


def _pii_free(columns: tuple[str, ...]) -> tuple[tuple[str, dict[str, Any]], ...]:
    out: list[tuple[str, dict[str, Any]]] = []
    for col in columns:
        out.append(("ExpectColumnValuesToNotMatchRegex", {"column": col, "regex": EMAIL_RE}))
        out.append(("ExpectColumnValuesToNotMatchRegex", {"column": col, "regex": PHONE_RE}))
    return tuple(out)


_CONVERSION_TEXT = (
    "order_id",
    "product_id",
    "session_id",
    "fbclid",
    "fbc",
    "fbp",
    "user_agent",
    "gateway_status",
)
_CLICK_TEXT = ("session_id", "external_id", "fbclid", "fbc", "fbp", "user_agent", "landing_url", "referrer")
_ATTEMPT_TEXT = ("error_message",)

CONTRACTS: tuple[Contract, ...] = (
    Contract(
        "conversions_contract",
        tuple(keys.CONVERSIONS.path),
        f"""SELECT conversion_id, email_hash, phone_hash, currency, amount::float8 AS amount,
                   extract(epoch FROM event_time - now())::float8 AS seconds_ahead, {", ".join(_CONVERSION_TEXT)}
            FROM landing.conversions WHERE created_at > now() - make_interval(hours => %(hours)s)
            ORDER BY conversion_id DESC LIMIT %(limit)s""",
        (
            ("ExpectColumnValuesToMatchRegex", {"column": "email_hash", "regex": HASH_RE}),
            ("ExpectColumnValuesToMatchRegex", {"column": "phone_hash", "regex": HASH_RE}),
            ("ExpectColumnValuesToBeInSet", {"column": "currency", "value_set": ISO_4217}),
            ("ExpectColumnValuesToBeBetween", {"column": "amount", "min_value": 0}),
            ("ExpectColumnValuesToBeBetween", {"column": "seconds_ahead", "max_value": FUTURE_SKEW_S}),
        ),
        _CONVERSION_TEXT,
    ),
    Contract(
        "clicks_contract",
        tuple(keys.CLICKS.path),
        f"""SELECT click_id, email_hash, phone_hash,
                   extract(epoch FROM occurred_at - now())::float8 AS seconds_ahead, {", ".join(_CLICK_TEXT)}
            FROM landing.clicks WHERE created_at > now() - make_interval(hours => %(hours)s)
            ORDER BY click_id DESC LIMIT %(limit)s""",
        (
            ("ExpectColumnValuesToMatchRegex", {"column": "email_hash", "regex": HASH_RE}),
            ("ExpectColumnValuesToMatchRegex", {"column": "phone_hash", "regex": HASH_RE}),
            ("ExpectColumnValuesToBeBetween", {"column": "seconds_ahead", "max_value": FUTURE_SKEW_S}),
        ),
        _CLICK_TEXT,
    ),
    Contract(
        "dispatch_attempts_contract",
        tuple(keys.DISPATCH_ATTEMPTS.path),
        f"""SELECT attempt_id, event_id, latency_ms::float8 AS latency_ms,
                   extract(epoch FROM created_at - now())::float8 AS seconds_ahead, {", ".join(_ATTEMPT_TEXT)}
            FROM ops.dispatch_attempts WHERE created_at > now() - make_interval(hours => %(hours)s)
            ORDER BY attempt_id DESC LIMIT %(limit)s""",
        (
            ("ExpectColumnValuesToMatchRegex", {"column": "event_id", "regex": HASH_RE}),
            ("ExpectColumnValuesToNotBeNull", {"column": "event_id"}),
            ("ExpectColumnValuesToBeBetween", {"column": "latency_ms", "min_value": 0}),
            ("ExpectColumnValuesToBeBetween", {"column": "seconds_ahead", "max_value": FUTURE_SKEW_S}),
        ),
        _ATTEMPT_TEXT,
    ),
)


def _frame(conn: psycopg.Connection, contract: Contract, t: AlarmThresholds):
    import pandas as pd

    cur = conn.execute(contract.query, {"hours": t.gx_window_hours, "limit": t.gx_max_rows})
    columns = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=columns).astype(object)


def validate(conn: psycopg.Connection, contract: Contract, t: AlarmThresholds) -> AlarmResult:
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    df = _frame(conn, contract, t)
    if df.empty:
        return AlarmResult(
            contract.name,
            True,
            ERROR,
            0,
            "no failed expectations",
            runbook_url("data-contracts.md"),
            contract.asset_key,
            "GX data contract",
            {"rows": 0},
        )
    context = gx.get_context(mode="ephemeral")
    try:  # no tqdm bars in Dagster logs / demo output
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    except Exception:  # noqa: S110 - cosmetic only
        pass
    source = context.data_sources.add_pandas(name=f"trackai_{contract.name}")
    asset = source.add_dataframe_asset(name=contract.name)
    batch_def = asset.add_batch_definition_whole_dataframe("batch")
    suite = gx.ExpectationSuite(name=f"{contract.name}_suite")
    for kind, kwargs in (*contract.expectations, *_pii_free(contract.free_text_columns)):
        suite.add_expectation(getattr(gxe, kind)(**kwargs))
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(suite)
    failed = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            res = r.result or {}
            failed.append(
                {
                    "expectation": cfg.type,
                    "column": cfg.kwargs.get("column"),
                    "unexpected_count": res.get("unexpected_count"),
                    # masked: an offending value may itself be plaintext PII
                    "examples": [str(v)[:3] + "..." for v in (res.get("partial_unexpected_list") or [])[:3]],
                }
            )
    stats = result.statistics
    return AlarmResult(
        name=contract.name,
        passed=bool(result.success),
        severity=ERROR,
        value=len(failed),
        threshold="0 failed expectations",
        runbook=runbook_url("data-contracts.md"),
        asset_key=contract.asset_key,
        description="Great Expectations data contract: hash format, ISO currency, amount >= 0, no future"
        " event time, no plaintext e-mail/phone.",
        details={
            "rows": len(df),
            "success_percent": stats.get("success_percent"),
            "evaluated": stats.get("evaluated_expectations"),
            "failed": failed,
        },
    )


def run_contract(conn: psycopg.Connection, contract: Contract, t: AlarmThresholds) -> AlarmResult:
    try:
        return validate(conn, contract, t)
    except Exception as exc:
        return AlarmResult(
            contract.name,
            False,
            ERROR,
            None,
            "evaluation error",
            runbook_url("data-contracts.md"),
            contract.asset_key,
            "GX data contract",
            {"error": f"{type(exc).__name__}: {exc}"},
        )
