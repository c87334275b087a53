"""``Stripe-Signature`` read exactly as stripe-python reads it: every header below gets the same verdict from
``stripe.WebhookSignature.verify_header`` and from our adapter (first ``t`` wins, no whitespace tolerance
in keys, values cut at a second ``=``), with headers made by stripe's own signing helper."""

from __future__ import annotations

import pytest
import stripe

from trackai.core.gateways import ADAPTERS, AuthError
from trackai.core.gateways import stripe as stripe_gw

SECRET = "whsec_parity"
BODY = '{"id":"evt_parity","object":"event","type":"checkout.session.completed"}'
T = 1767225600
SIG = stripe.WebhookSignature.generate_signature_header(BODY, SECRET, timestamp=T).split("v1=")[1]
OTHER = stripe.WebhookSignature.generate_signature_header(BODY, SECRET, timestamp=T + 1).split("v1=")[1]

HEADERS = {
    "helper": stripe.WebhookSignature.generate_signature_header(BODY, SECRET, timestamp=T),
    "first_t_wins": f"t={T},t={T + 1},v1={SIG}",
    "first_t_wins_refuses": f"t={T + 1},t={T},v1={SIG}",
    "space_before_key": f" t={T},v1={SIG}",
    "space_before_v1": f"t={T}, v1={SIG}",
    "space_inside_t_value": f"t= {T} ,v1={SIG}",  # int() tolerates it, and so does stripe-python
    "space_after_signature": f"t={T},v1={SIG} ",
    "second_equals_cuts_value": f"t={T},v1={SIG}=junk",
    "v1_among_others": f"t={T},v1={'0' * 64},v0={SIG},v1={SIG}",
    "only_v0": f"t={T},v0={SIG}",
    "no_t": f"v1={SIG}",
    "t_without_equals": f"t,t={T},v1={SIG}",
    "v1_without_equals": f"t={T},v1,v1={SIG}",
    "t_not_a_number": f"t=abc,v1={SIG}",
    "t_plus_sign": f"t=+{T},v1={SIG}",
    "t_underscores": f"t={str(T)[:4]}_{str(T)[4:]},v1={SIG}",
    "upper_case_key": f"T={T},v1={SIG}",
    "empty_pairs": f",,t={T},,v1={SIG},",
    "wrong_signature": f"t={T},v1={OTHER}",
    "semicolons": f"t={T};v1={SIG}",
}


def stripe_python_accepts(header: str) -> bool:
    try:
        return stripe.WebhookSignature.verify_header(BODY, header, SECRET, tolerance=None)
    except stripe.SignatureVerificationError:
        return False


def ours_accepts(header: str) -> bool:
    try:
        ADAPTERS["stripe"].authenticate(
            BODY.encode(), {"stripe-signature": header}, {}, SECRET, now=T, tolerance=0
        )
    except AuthError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_same_verdict_as_stripe_python(name):
    header = HEADERS[name]
    assert ours_accepts(header) == stripe_python_accepts(header), header


def test_the_cases_cover_both_verdicts():
    verdicts = {name: stripe_python_accepts(h) for name, h in HEADERS.items()}
    assert verdicts["first_t_wins"] and not verdicts["first_t_wins_refuses"]
    assert not verdicts["space_before_v1"] and not verdicts["space_before_key"]
    assert verdicts["second_equals_cuts_value"] and verdicts["space_inside_t_value"]


def test_parse_header_values():
    assert stripe_gw.parse_header(f"t={T},t=1,v1=a,v1=b=c,v0=d") == (T, ["a", "b"])
    assert stripe_gw.parse_header(f" t={T},v1=a") == (None, [])
    assert stripe_gw.parse_header(f"t={T}, v1=a") == (T, [])


def test_caps_on_the_header_still_apply():
    many = f"t={T}," + ",".join(f"v1={SIG}" for _ in range(stripe_gw.MAX_V1 + 1))
    with pytest.raises(AuthError) as err:
        ADAPTERS["stripe"].authenticate(
            BODY.encode(), {"stripe-signature": many}, {}, SECRET, now=T, tolerance=0
        )
    assert err.value.reason == "too_many_signatures"
    long = f"t={T},v1={SIG}," + "x" * stripe_gw.MAX_SIGNATURE_HEADER
    with pytest.raises(AuthError) as err:
        ADAPTERS["stripe"].authenticate(
            BODY.encode(), {"stripe-signature": long}, {}, SECRET, now=T, tolerance=0
        )
    assert err.value.reason == "signature_header_too_long"
