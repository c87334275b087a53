"""Issue 21, third pass: the cheaper mapping steps answer exactly what the plain rules answer.

Each shortcut in trackai/core (customer letters, the hash check, the shared JSON decoders, buyer hashes
passed through ``build_conversion`` unchecked) is compared here with the rule it shortcuts."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackai.core import customer, pii
from trackai.core.gateways import base
from trackai.core.gateways.base import MappingError, parse_json_object

NAMES = st.sampled_from(
    [
        "Maria Clara de Souza Santos",
        "José da Silva Filho",
        "Comprador Teste",
        "São Paulo",
        "SÃO  PAULO",
        "D'Ávila",
        "İstanbul",
        "Ǆemal",
        "a\u0301b",
        "Brasil",
        "Rio Grande do Sul",
        "01310-100",
        "f",
        "Feminino",
    ]
)
TEXT = st.one_of(NAMES, st.text(max_size=40))


def _letters_rule(text: str) -> str:
    return "".join(ch for ch in text.lower() if unicodedata.category(ch)[0] in "LM")


def _ascii_letters_rule(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text.lower()) if "a" <= ch <= "z")


@settings(max_examples=3000, deadline=None)
@given(TEXT)
def test_letter_shortcuts_equal_the_rules(text) -> None:
    assert customer._letters(text) == _letters_rule(text)
    assert customer._ascii_letters(text) == _ascii_letters_rule(text)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(max_size=70), st.text("0123456789abcdefABCDEF\n ", min_size=60, max_size=67)))
def test_the_hash_check_equals_the_pattern(value) -> None:
    assert pii.is_sha256_hex(value) == bool(value and re.match(r"^[0-9a-f]{64}$", value))


RAW_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(TEXT, st.integers(), st.none())
        for key in (
            "full_name",
            "first_name",
            "last_name",
            "city",
            "state",
            "zip_code",
            "country",
            "birth_date",
            "gender",
        )
    },
)


@settings(max_examples=2000, deadline=None)
@given(RAW_FIELDS)
def test_buyer_hashes_are_already_clean(raw) -> None:
    """build_conversion skips clean_hashes for buyer_fields' answer: it would change nothing."""
    hashed = customer.hashed_fields(**raw)
    cleaned = customer.clean_hashes(hashed)
    assert cleaned == hashed and list(cleaned) == list(hashed)
    assert base.buyer_fields(**raw) == hashed


def test_other_customer_dicts_are_still_checked() -> None:
    conversion = base.build_conversion(
        "stripe",
        order_id="o-1",
        status="approved",
        gateway_status="x",
        event_time=0,
        customer={"fn": "Maria", "ge": pii.sha256_hex("x"), "ln": "A" * 64, "zz": "a" * 64},
    )
    assert conversion.customer == {"ln": "a" * 64}
    assert type(conversion.customer) is dict
    from_buyer = base.build_conversion(
        "stripe",
        order_id="o-1",
        status="approved",
        gateway_status="x",
        event_time=0,
        customer=base.buyer_fields(full_name="Maria Souza"),
    )
    assert type(from_buyer.customer) is dict
    assert from_buyer.customer == customer.hashed_fields(full_name="Maria Souza")


def _loads_rule(body: bytes, numbers_as_text: bool) -> tuple[str, object]:
    """json.loads with the hooks, as parse_json_object called it before the shared decoders."""
    hooks = (
        (str, str, str) if numbers_as_text else (base._bounded_int, base._bounded_decimal, base._no_constants)
    )
    try:
        value = json.loads(
            body.decode("utf-8"), parse_int=hooks[0], parse_float=hooks[1], parse_constant=hooks[2]
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return "error", f"body is not JSON: {exc}"
    except MappingError as exc:
        return "error", str(exc)
    if not isinstance(value, dict):
        return "error", "body is not a JSON object"
    return "ok", value


def _parse(body: bytes, numbers_as_text: bool) -> tuple[str, object]:
    try:
        return "ok", parse_json_object(body, numbers_as_text=numbers_as_text)
    except MappingError as exc:
        return "error", str(exc)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=30),
        st.sampled_from(
            [b"\xef\xbb\xbf{}", b'{"a": 1e999}', b'{"a": NaN}', b'{"a": ' + b"9" * 50 + b"}", b"[1]"]
        ),
    ),
    st.booleans(),
)
def test_the_shared_decoders_equal_json_loads(body, numbers_as_text) -> None:
    assert _parse(body, numbers_as_text) == _loads_rule(body, numbers_as_text)


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf{}", b"{", b"\xff"])
def test_unparsable_bodies_keep_their_messages(body) -> None:
    with pytest.raises(MappingError) as exc:
        parse_json_object(body)
    assert ("error", str(exc.value)) == _loads_rule(body, False)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40), st.binary(max_size=200), st.integers(min_value=0, max_value=2**40))
def test_one_shot_signatures_equal_hmac_new(secret, body, timestamp) -> None:
    import hashlib
    import hmac

    from trackai.core.gateways import kiwify, stripe

    try:
        key = secret.encode("utf-8")
    except UnicodeEncodeError:
        return
    message = str(timestamp).encode("ascii") + b"." + body
    assert stripe.signature(secret, timestamp, body) == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert kiwify.signature(body, secret) == hmac.new(key, body, hashlib.sha1).hexdigest()


def test_hashes_are_memoised_within_a_mapping_only(monkeypatch) -> None:
    calls: list[str] = []
    real_email, real_phone = pii._hash_email, pii._hash_phone
    monkeypatch.setattr(pii, "_hash_email", lambda raw: calls.append("e") or real_email(raw))
    monkeypatch.setattr(pii, "_hash_phone", lambda raw, region: calls.append("p") or real_phone(raw, region))
    with pii.phones_parsed_once():
        first = pii.hash_email("Buyer@Example.com ")
        assert pii.hash_email("Buyer@Example.com ") == first == pii.sha256_hex("buyer@example.com")
        phone = pii.hash_phone("11987654321")
        assert pii.hash_phone("11987654321") == phone == pii.sha256_hex("5511987654321")
        assert pii.hash_phone("email", "") is None and pii.hash_email("email") is None  # keys never mix
    assert calls == ["e", "p", "p", "e"]
    assert pii.hash_email("Buyer@Example.com ") == first  # outside: computed again, nothing kept
    assert calls[-1] == "e"
