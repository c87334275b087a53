"""The pure rules of the setup assistant: every answer has its own text in both languages, the streak rule,
redaction, the wizard's blocked steps, the webhook and page judgements."""

from __future__ import annotations

import re

from trackai.core import setup_landing, setup_result, setup_streak, setup_webhook, setup_wizard
from trackai.core.setup_redact import redact
from trackai.core.setup_specs import TOOL_SPECS


def test_every_code_has_a_specific_message_in_both_languages():
    assert set(TOOL_SPECS) == set(setup_result.TOOLS)
    for (tool, code), (status, msg_pt, msg_en, next_pt, next_en) in setup_result.MESSAGES.items():
        assert status in ("pass", "warn", "fail"), (tool, code)
        assert msg_pt and msg_en and next_pt and next_en and msg_pt != msg_en, (tool, code)
        assert set(re.findall(r"{(\w+)}", msg_pt)) <= set(re.findall(r"{(\w+)}", msg_pt + msg_en + next_pt))
    for tool in setup_result.TOOLS:
        codes = setup_result.codes(tool)
        assert "ok" in codes and any(setup_result.MESSAGES[(tool, c)][0] == "fail" for c in codes), tool
    messages = [m[1] for m in setup_result.MESSAGES.values()]
    assert len(messages) == len(set(messages))  # never one generic text for two codes


def test_streak_rule():
    s = setup_streak.after_call(0, True, threshold=3, case_open=False)
    assert (s.failures, s.open_case) == (1, False)
    s = setup_streak.after_call(2, True, threshold=3, case_open=False)
    assert (s.failures, s.open_case) == (3, True)
    assert setup_streak.after_call(3, True, threshold=3, case_open=True).open_case is False
    passed = setup_streak.after_call(5, False, threshold=3, case_open=True)
    assert (passed.failures, passed.open_case, passed.close_case) == (0, False, True)


def test_redaction_keeps_codes_drops_secrets():
    out = redact(
        {
            "meta_token": "EAAB" + "x" * 30,
            "test_event_code": "TEST1",
            "note": "token EAAB" + "y" * 30 + " whsec_abcdefgh12",
            "token_type": "SYSTEM_USER",
            "nested": [{"hottok": "h"}],
        }
    )
    assert out["meta_token"] == "[redacted]" and out["test_event_code"] == "TEST1"
    assert "EAAB" not in out["note"] and "whsec_" not in out["note"] and out["token_type"] == "SYSTEM_USER"
    assert out["nested"] == [{"hottok": "[redacted]"}]


def test_wizard_blocks_until_prerequisite_passes():
    states = {s.tool: s for s in setup_wizard.steps({})}
    assert states["send_test_capi_event"].state == "blocked"
    assert states["send_test_capi_event"].blocked_by == "validate_meta_token"
    assert states["check_pixel_presence"].blocked_by == "probe_landing_url"
    assert states["generate_tracking_snippet"].state == "todo"
    later = {
        s.tool: s for s in setup_wizard.steps({"validate_meta_token": "warn", "probe_landing_url": "fail"})
    }
    assert later["send_test_capi_event"].state == "todo" and later["check_pixel_presence"].state == "blocked"


def test_webhook_judgement_prefers_the_dominant_refusal():
    seen = setup_webhook.WebhookSeen(
        "stripe",
        "t",
        "https://x/api/v1/webhooks/stripe/t",
        24,
        True,
        refusals={"bad_signature": 1, "timestamp_outside_tolerance": 4},
        last_refused_at="2026-11-26 04:21:00 UTC",
    )
    r = setup_webhook.judge_webhook(seen)
    assert (r.code, r.observed["refused_reason_count"]) == ("stale_timestamp", 4)


def test_page_judgement_ignores_pixels_inside_noscript_for_init():
    html = "<script>fbq('init','111111')</script><noscript><img src='https://www.facebook.com/tr?id=222222&ev=PageView'></noscript>"
    r = setup_landing.judge_page(html, url="u", pixel_id="222222", tenant_id="t", snippet_src="s")
    assert (r.code, r.observed["init_pixels"], r.observed["noscript_pixels"]) == (
        "wrong_pixel",
        ["111111"],
        ["222222"],
    )
