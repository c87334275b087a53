"""Payload conformance: hashes equal Meta's SDK output, fbc verbatim, action_source rules, validation."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from facebook_business.adobjects.serverside.user_data import UserData

from trackai.core import pii
from trackai.core.capi import validate
from trackai.core.capi.payload import build_purchase_event, external_id_for

EMAILS = ["buyer@example.com", "  Maria.Silva@Example.COM.br ", "JOAO+promo@gmail.com"]
PHONES = [  # (as the gateway sends it, with 55 prepended for the SDK which never adds it)
    ("(11) 98765-4321", "5511987654321"),
    ("+55 21 99999-0000", "5521999990000"),
    ("011 3456-7890", "551134567890"),
    ("5531988887777", "5531988887777"),
]


@pytest.mark.parametrize("email", EMAILS)
def test_email_hash_equals_meta_sdk(email):
    sdk = UserData(email=email).normalize()["em"]
    assert [pii.hash_email(email)] == sdk


@pytest.mark.parametrize(("raw", "with_55"), PHONES)
def test_phone_hash_equals_meta_sdk(raw, with_55):
    sdk = UserData(phone=with_55).normalize()["ph"]
    assert [pii.hash_phone(raw)] == sdk


def purchase(**kw):
    base = {
        "tenant_id": "6f1c8a8e-0000-4000-8000-000000000001",
        "order_id": "981",
        "event_id": "a" * 64,
        "approved_at": datetime.now(UTC) - timedelta(hours=2),
        "amount": 197,
        "currency": "brl",
        "product_id": "curso-x",
        "session_id": "sess-1",
        "email_hash": pii.hash_email("buyer@example.com"),
        "phone_hash": pii.hash_phone("11987654321"),
    }
    base.update(kw)
    return base


MATCH = {
    "fbc": "fb.1.1767220000000.IwAR2aBc-_XyZ",
    "fbp": "fb.1.1767219000000.123456789",
    "client_ip": "2804:14c::1",
    "user_agent": "Mozilla/5.0 test",
    "landing_url": "https://shop.example/lp?fbclid=IwAR2aBc-_XyZ",
    "external_id": None,
}


def test_matched_purchase_is_a_website_event_with_click_data_verbatim():
    p = purchase()
    event = build_purchase_event(p, MATCH)
    assert event["action_source"] == "website"
    assert event["event_source_url"] == MATCH["landing_url"]
    ud = event["user_data"]
    assert ud["fbc"] == MATCH["fbc"]  # unchanged, case kept
    assert ud["client_user_agent"] == MATCH["user_agent"]
    assert ud["client_ip_address"] == "2804:14c::1"
    assert ud["em"] == [p["email_hash"]] and ud["ph"] == [p["phone_hash"]]
    assert ud["external_id"] == [pii.sha256_hex("sess-1")]
    assert event["event_time"] == int(p["approved_at"].timestamp())
    assert event["event_id"] == "a" * 64
    assert event["custom_data"]["currency"] == "BRL" and event["custom_data"]["value"] == 197.0
    assert event["custom_data"]["order_id"] == "981" and event["custom_data"]["content_ids"] == ["curso-x"]
    assert validate.validate_event(event, time.time()) == []


def test_unmatched_purchase_uses_non_web_source_and_is_valid():
    event = build_purchase_event(purchase(session_id=None))
    assert event["action_source"] == "other"
    assert "event_source_url" not in event
    assert event["user_data"]["external_id"] == [
        pii.sha256_hex("6f1c8a8e-0000-4000-8000-000000000001|" + pii.hash_email("buyer@example.com"))
    ]
    assert validate.validate_event(event, time.time()) == []


def test_external_id_from_match_is_hashed_once():
    assert external_id_for(purchase(), {"external_id": "visitor-9"}) == pii.sha256_hex("visitor-9")
    hashed = pii.sha256_hex("x")
    assert external_id_for(purchase(), {"external_id": hashed}) == hashed


def ev(**changes):
    event = build_purchase_event(purchase(), MATCH)
    for key, value in changes.items():
        if key.startswith("ud_"):
            if value is None:
                event["user_data"].pop(key[3:], None)
            else:
                event["user_data"][key[3:]] = value
        elif value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


NOW = time.time()


@pytest.mark.parametrize(
    ("event", "subcode"),
    [
        (ev(event_name=None), validate.SUBCODE_MISSING),
        (ev(action_source="web"), validate.SUBCODE_MISSING),
        (ev(event_source_url=None), validate.SUBCODE_MISSING),
        (ev(ud_client_user_agent=None), validate.SUBCODE_MISSING),
        (ev(event_time=int(NOW - 8 * 86400)), validate.SUBCODE_TOO_OLD),
        (ev(event_time=int(NOW + 3600)), validate.SUBCODE_FUTURE),
        (ev(event_time=str(int(NOW))), validate.SUBCODE_MISSING),
        (ev(ud_em=["buyer@example.com"]), validate.SUBCODE_HASH),
        (ev(ud_ph=["ABC" + "0" * 61]), validate.SUBCODE_HASH),
        (ev(ud_fbc="fb.1.1767220000000.fb.1.1767220000000.IwAR"), validate.SUBCODE_FBC),
        (ev(ud_fbc="IwAR2abc"), validate.SUBCODE_FBC),
        (ev(ud_fbc="fb.1.1767220000000.Iw AR"), validate.SUBCODE_FBC),
    ],
)
def test_invalid_events_are_caught(event, subcode):
    issues = validate.validate_event(event, NOW)
    assert issues and subcode in {i.subcode for i in issues}


@pytest.mark.parametrize(
    "user_data",
    [
        {},
        {"client_user_agent": "UA"},
        {"db": ["a" * 64], "client_user_agent": "UA"},
        {"fn": ["a" * 64], "ge": ["b" * 64]},
        {"ln": ["a" * 64]},
        {
            "ct": ["a" * 64],
            "country": ["b" * 64],
            "st": ["c" * 64],
            "zp": ["d" * 64],
            "client_user_agent": "UA",
        },
    ],
)
def test_baseline_matching_combos_are_refused(user_data):
    event = {"event_name": "Lead", "event_time": int(NOW), "action_source": "other", "user_data": user_data}
    assert validate.SUBCODE_MATCHING in {i.subcode for i in validate.validate_event(event, NOW)}


def test_more_than_1000_events_refused_as_a_whole():
    events = [ev() for _ in range(1001)]
    index, issue = validate.validate_request(events, NOW)
    assert index == -1 and issue.subcode == validate.SUBCODE_TOO_MANY
    assert validate.validate_request(events[:1000], NOW) is None


def test_customer_keys_from_the_purchase_are_sent_hashed_as_lists():
    from trackai.core import customer

    hashed = customer.hashed_fields(
        full_name="Maria Souza", city="São Paulo", state="SP", zip_code="01310-100", country="Brasil"
    )
    row = purchase(**{customer.COLUMNS[k]: v for k, v in hashed.items()})
    row["db_hash"] = pii.sha256_hex("")  # never sent: the hash of nothing
    row["ge_hash"] = pii.sha256_hex("female")  # never sent: not a normalised gender
    ud = build_purchase_event(row)["user_data"]
    assert {k: ud[k] for k in customer.KEYS if k in ud} == {k: [v] for k, v in hashed.items()}
    assert ud["zp"] == [pii.sha256_hex("01310100")] and ud["country"] == [pii.sha256_hex("br")]
    assert validate.validate_event(build_purchase_event(row), time.time()) == []


@pytest.mark.parametrize(
    "user_data",
    [
        {"ge": [pii.sha256_hex("female")]},
        {"country": [pii.sha256_hex("brasil")]},
        {"fn": [pii.sha256_hex("")]},
    ],
)
def test_the_fake_refuses_customer_keys_that_were_never_normalised(user_data):
    issues = validate.validate_event(ev(**{f"ud_{k}": v for k, v in user_data.items()}), NOW)
    assert [i.subcode for i in issues] == [validate.SUBCODE_HASH]
