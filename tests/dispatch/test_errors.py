import json

import pytest

from trackai.core.capi.errors import ErrorClass, classify

R, B, A, P, OK = (
    ErrorClass.RETRYABLE,
    ErrorClass.BAD_EVENT,
    ErrorClass.AUTH,
    ErrorClass.PERMISSION,
    ErrorClass.OK,
)


def body(code, subcode=None, transient=False):
    error = {
        "message": "m",
        "type": "OAuthException",
        "code": code,
        "is_transient": transient,
        "fbtrace_id": "T",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return json.dumps({"error": error})


CASES = [
    (200, json.dumps({"events_received": 2, "messages": [], "fbtrace_id": "T"}), OK),
    (None, "ReadTimeout", R),
    (500, body(1), R),
    (500, body(2, transient=True), R),
    (503, "<html>Service Unavailable</html>", R),
    (502, "", R),
    (400, body(4), R),
    (400, body(17), R),
    (400, body(341), R),
    (400, body(368), R),
    (400, body(32), R),
    (400, body(613), R),
    (400, body(80003), R),
    (400, body(80004), R),
    (400, body(999, transient=True), R),
    (400, body(12345), R),  # unknown code: retry (bounded by the deadline)
    (400, body(100, 2804001), B),
    (400, body(100, 2804003), B),
    (400, body(100), B),
    (500, body(100), R),  # a 5xx is never the event's fault
    (400, body(100, 33), P),
    (400, body(190, 463), A),
    (400, body(190), A),
    (400, body(102), A),
    (403, body(10), P),
    (403, body(200), P),
    (403, body(294), P),
    (400, body(3), P),
]


@pytest.mark.parametrize(("status", "payload", "expected"), CASES)
def test_classification_table(status, payload, expected):
    assert classify(status, payload).error_class is expected


def test_error_details_are_kept():
    raw = json.dumps(
        {
            "error": {
                "message": "Invalid parameter",
                "code": 100,
                "error_subcode": 2804001,
                "error_user_title": "Click ID Incorrectly Formatted",
                "error_user_msg": "bad fbc",
                "fbtrace_id": "Axyz",
                "is_transient": False,
            }
        }
    )
    error = classify(400, raw)
    assert (error.code, error.subcode, error.user_title, error.user_msg, error.fbtrace_id) == (
        100,
        2804001,
        "Click ID Incorrectly Formatted",
        "bad fbc",
        "Axyz",
    )
    assert "2804001" in error.describe()
