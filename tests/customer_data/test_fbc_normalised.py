"""A click or gateway fbc Meta would refuse is normalised once, at ingest, with the one grammar
(``trackai.core.fbc``), or dropped with its reason; a well-formed value is never touched."""

from __future__ import annotations

import json

import pytest

from trackai.core.fbc import fbclid_from_fbc, is_valid_fbc, normalize_fbc, normalize_fbp
from trackai.core.gateways import ADAPTERS
from trackai_cli.gateway_samples import build_payload

MS = "1767220000000"


@pytest.mark.parametrize(
    ("given", "kept", "why"),
    [
        (f"fb.1.{MS}.IwAR_ok-1", f"fb.1.{MS}.IwAR_ok-1", None),
        (f"fb.2.{MS}.IwAR_ok-1.AQICAQMC", f"fb.2.{MS}.IwAR_ok-1.AQICAQMC", None),  # appendix kept
        (f" fb.1.{MS}.IwAR_ok-1 ", f"fb.1.{MS}.IwAR_ok-1", None),
        (f"fb.1.{MS}.fb.1.1767210000000.IwAR_in", "fb.1.1767210000000.IwAR_in", "unwrapped"),
        ("fb.1.1767220000.IwAR_sec", "fb.1.1767220000000.IwAR_sec", "seconds"),
        ("fb.1.1767220000.fb.1.1767210000.IwAR_both", "fb.1.1767210000000.IwAR_both", "unwrapped"),
        (f"fb.1.{MS}.IwAR%2Dx", None, "never decoded"),
        (f"fb.1.{MS}.Iw+AR", None, "never decoded"),
        (f"fb.1.{MS}.x$y", None, "not fb."),
        ("fb.1.123.IwAR", None, "not fb."),
        ("", None, None),
        (None, None, None),
    ],
)
def test_normalize_fbc(given, kept, why):
    value, reason = normalize_fbc(given)
    assert value == kept
    assert (reason is None) == (why is None) and (why is None or why in reason)
    assert value is None or is_valid_fbc(value)


def test_fbclid_is_case_kept_and_read_through_the_normaliser():
    assert fbclid_from_fbc("fb.1.1767220000.IwAR_CaSe") == "IwAR_CaSe"  # a legacy row in seconds
    assert fbclid_from_fbc(f"fb.1.{MS}.fb.1.{MS}.IwAR_CaSe") == "IwAR_CaSe"


def test_fbp_in_seconds_is_made_ms():
    assert normalize_fbp("fb.1.1731000000.123456789") == (
        "fb.1.1731000000000.123456789",
        "fbp: creation time in seconds made ms",
    )


@pytest.mark.parametrize("gateway", ["stripe", "kiwify", "perfectpay"])
def test_gateway_fbc_normalised_at_ingest_and_the_reason_stored(gateway):
    payload = build_payload(gateway, order_id=f"fbc-{gateway}", fbc="fb.1.1767220000.IwAR_Gw", fbp=None)
    if gateway == "kiwify":
        payload["TrackingParameters"]["fbc"] = "fb.1.1767220000.IwAR_Gw"
    mapped = ADAPTERS[gateway].map(json.dumps(payload).encode())
    assert mapped.conversion.fbc == "fb.1.1767220000000.IwAR_Gw"
    assert mapped.conversion.fbclid == "IwAR_Gw"
    assert mapped.payload_redacted["_trackai"] == {"normalised": ["fbc: creation time in seconds made ms"]}


def test_gateway_fbc_that_cannot_be_repaired_is_dropped_the_purchase_kept():
    payload = build_payload("stripe", order_id="fbc-bad", fbc=f"fb.1.{MS}.IwAR%2Dx")
    conversion = ADAPTERS["stripe"].map(json.dumps(payload).encode()).conversion
    assert conversion.fbc is None and conversion.status == "approved"
    assert "never decoded" in conversion.notes[0]
