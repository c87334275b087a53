"""Pure parts of the console: texts and formats, charts, the buyer search, the setup guide, sessions and
CSRF, Meta's Dataset Quality (parsing, drift rule, the fake's scoring)."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from console import charts, i18n, queries, security, setup_guide
from console.web import PACKAGE, safe_next
from trackai.console_data import meta_quality
from trackai.core import pii
from trackai.core.gateways import stripe
from trackai_cli.capi_mock.dataset_quality import score_events

# i.t('key') / i.t('key', ...) with a complete key (keys built with ~ are checked by the next test)
KEY_USE = re.compile(r"""\bi\.t\(\s*['"]([a-z0-9_.]+)['"]\s*[,)]|\bt\(\s*['"]([a-z0-9_.]+)['"]\s*[,)]""")


def test_every_literal_text_key_used_exists_in_both_languages() -> None:
    used = set()
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("**/*.py")]:
        if path.name == "i18n.py":  # the catalog itself (its docstring shows the call)
            continue
        for match in KEY_USE.finditer(path.read_text(encoding="utf-8")):
            used.add(match.group(1) or match.group(2))
    assert used, "no text keys found"
    assert used - set(i18n.MESSAGES) == set()
    for key, texts in i18n.MESSAGES.items():
        assert set(texts) == set(i18n.LOCALES) and all(texts.values()), key


def test_dynamic_text_keys_cover_every_value_they_are_built_from() -> None:
    expected = (
        [f"gateway.{g}" for g in queries.GATEWAYS]
        + [f"stage.{s}" for s in (*queries.STAGES, "unmatched")]
        + [f"state.{s}" for s in queries.DISPATCH_STATES]
        + [f"key.{k}" for k in queries.USER_DATA_KEYS]
        + [
            f"reason.{r}{suffix}"
            for r in ("invalid", "meta_rejected", "expired", "token")
            for suffix in ("", ".what", ".todo")
        ]
        + [
            f"attempt.{s}"
            for s in ("success", "retryable_error", "fatal_error", "invalid", "expired", "blocked")
        ]
        + [f"overview.window.{w}" for w in (1, 7, 30)]
        + [f"replay.refused.{why}" for why in ("accepted", "not_open", "unverified")]
    )
    assert [k for k in expected if k not in i18n.MESSAGES] == []


def test_pt_br_is_the_default_with_brazilian_formats() -> None:
    pt = i18n.Translator(i18n.resolve_locale(None), "America/Sao_Paulo")
    en = i18n.Translator("en", "America/Sao_Paulo")
    assert pt.locale == "pt-BR" and i18n.resolve_locale("xx") == "pt-BR"
    assert pt.money(Decimal("1234.5")) == "R$\xa01.234,50"
    assert en.money(Decimal("1234.5")) == "R$1,234.50"
    assert pt.number(1234567) == "1.234.567" and en.number(1234567) == "1,234,567"
    assert pt.number(8.25, 1) == "8,2" or pt.number(8.25, 1) == "8,3"
    assert pt.percent(17, 24) == "70,8%" and en.percent(17, 24) == "70.8%"
    assert pt.day(date(2026, 3, 5)) == "05/03/2026" and en.day(date(2026, 3, 5)) == "3/5/26"
    # 14:30 UTC is 11:30 in São Paulo
    assert pt.when(datetime(2026, 3, 5, 14, 30, tzinfo=UTC)) == "05/03/2026 11:30"
    assert pt.percent(1, 0) == "—" and pt.money(None) == "—"
    assert pt.t("login.title") == "Entrar" and en.t("login.title") == "Log in"


def test_charts_are_accessible_svg_with_escaped_labels() -> None:
    svg = str(
        charts.bar_chart(
            "c1",
            "Compras <por> dia",
            "desc & more",
            ["1/3", "2/3"],
            [charts.Series("A", [3, None], "s-matched"), charts.Series("B", [1, 2], "s-unmatched")],
        )
    )
    assert 'role="img"' in svg and 'aria-labelledby="c1-t c1-d"' in svg
    assert "Compras &lt;por&gt; dia" in svg and "<por>" not in svg and "desc &amp; more" in svg
    assert svg.count("<rect") == 3 and "style=" not in svg  # the CSP forbids inline styles
    line = str(
        charts.line_chart(
            "c2",
            "t",
            "d",
            ["a", "b", "c"],
            [charts.Series("x", [1.0, None, 9.5], "s-ours")],
            threshold=charts.Series("min", [6, 6, 6], "s-threshold"),
        )
    )
    assert (
        line.count("<circle") == 2 and "threshold" in line and "<polyline" not in line
    )  # a gap splits the line
    assert [charts.axis_top(v, integer=True) for v in (0, 3, 24, 97)] == [4.0, 4.0, 40.0, 100.0]


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("  Maria.Souza@Example.com ", "email"),
        ("(11) 98765-4321", "phone"),
        ("11987654321", "phone_or_order"),
        ("HP1234567890", "order"),
        ("pi_3Nx", "order"),
    ],
)
def test_buyer_search_hashes_email_and_phone_like_ingest(typed: str, kind: str) -> None:
    found = queries.classify_search(typed)
    assert found.kind == kind
    if kind == "email":
        assert found.email_hash == pii.hash_email(typed) and found.order_id is None
    if kind.startswith("phone"):
        assert found.phone_hash == pii.hash_phone(typed) == pii.hash_phone("+55 11 98765-4321")
    if kind == "order":
        assert found.order_id == typed.strip() and found.email_hash is None and found.phone_hash is None
    assert queries.classify_search("   ").kind is None


def test_setup_guide_lists_only_events_the_adapters_act_on() -> None:
    events = setup_guide.events_to_enable()
    assert "PURCHASE_APPROVED" in events["hotmart"] and "PURCHASE_COMPLETE" not in events["hotmart"]
    assert "order_approved" in events["kiwify"] and events["perfectpay"] == []
    paid = {"payment_status": "paid", "refunded": True}
    assert all(stripe.canonical_status(e, paid) != "other" for e in events["stripe"])


def test_session_cookie_is_signed_expires_and_csrf_binds_to_it() -> None:
    signer = security.Signer(b"k" * 32, session_max_age=60)
    cookie, token = signer.new_session()
    assert signer.session_token(cookie) == token and token not in cookie.split(".")[1:]
    assert signer.session_token(cookie[:-2] + "xx") is None
    assert security.Signer(b"other" * 8, 60).session_token(cookie) is None
    expired = security.Signer(b"k" * 32, session_max_age=-1)
    assert expired.session_token(cookie) is None
    csrf = signer.csrf_token(token)
    assert signer.csrf_valid(token, csrf) and not signer.csrf_valid("other-session", csrf)
    assert not signer.csrf_valid(token, None) and not signer.csrf_valid(None, csrf)
    assert security.same_origin(None, "h:1", "http://h:1") and security.same_origin(
        "http://h:1", "h:1", "http://x"
    )
    assert not security.same_origin("https://evil.example", "h:1", "http://h:1")
    assert not security.same_origin("null", "h:1", "http://h:1")
    assert safe_next("/purchases?x=1") == "/purchases?x=1"
    assert safe_next("//evil.example") == "/" and safe_next("https://evil.example") == "/"
    assert security.throttle_key("email", " A@B.com ") == security.throttle_key("email", "a@b.com")


def test_dataset_quality_parsing_and_the_drift_rule() -> None:
    body = {
        "web": [
            {
                "event_name": "Purchase",
                "event_match_quality": {
                    "composite_score": 6.2,
                    "match_key_feedback": [
                        {"identifier": "email", "coverage": {"percentage": 100}},
                        {"identifier": "phone"},
                        "junk",
                    ],
                },
            },
            {"event_name": "PageView", "event_match_quality": {"composite_score": "11"}},
            {"no_name": True},
        ]
    }
    parsed = meta_quality.parse_response(body)
    assert [(e.event_name, e.composite_score) for e in parsed] == [("Purchase", 6.2), ("PageView", None)]
    assert parsed[0].match_key_feedback == [
        {"identifier": "email", "coverage_pct": 100.0},
        {"identifier": "phone", "coverage_pct": None},
    ]
    assert meta_quality.parse_response(["not", "an", "object"]) == []
    assert meta_quality.drift(8.6, 8.1, 2.0).state == "ok"
    assert meta_quality.drift(8.6, 3.0, 2.0) == meta_quality.Drift("drift", 5.6)
    assert meta_quality.drift(None, 3.0, 2.0).state == "unknown"


def test_the_fakes_dataset_quality_scores_coverage_its_own_way() -> None:
    now = time.time()
    full = {
        "em": ["h"],
        "ph": ["h"],
        "fbc": "fb.1.1.x",
        "fbp": "fb.1.1.2",
        "external_id": ["e"],
        "client_ip_address": "1.2.3.4",
        "client_user_agent": "UA",
    }
    web = score_events(
        [
            {"event_name": "Purchase", "event_time": now, "user_data": full},
            {"event_name": "Purchase", "event_time": now, "user_data": {"em": ["h"], "external_id": ["e"]}},
        ]
    )
    purchase = web[0]["event_match_quality"]
    coverage = {f["identifier"]: f["coverage"]["percentage"] for f in purchase["match_key_feedback"]}
    assert coverage["email"] == 100.0 and coverage["phone"] == 50.0 and coverage["fbc"] == 50.0
    assert 0 < purchase["composite_score"] < 10
