"""Issue 21, lean path: a webhook's phone is normalised once per mapping, with the same hashes.

Counted at ``pii._normalize_phone`` (the one normalisation rule): since the third pass an ordinary Brazilian
number never reaches ``phonenumbers.parse`` at all (tests/customer_data/test_phone_fast_path.py)."""

from __future__ import annotations

import json
from decimal import Decimal

from trackai.core import pii
from trackai.core.gateways import get_gateway
from trackai.core.pii import hash_phone, normalize_phone, phones_parsed_once
from trackai_cli.gateway_samples import build_payload


def _count_parses(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = pii._normalize_phone

    def counting(number, *args, **kwargs):
        calls.append(number)
        return real(number, *args, **kwargs)

    monkeypatch.setattr(pii, "_normalize_phone", counting)
    return calls


def test_a_stripe_webhook_parses_its_phone_once_with_the_same_hashes(monkeypatch) -> None:
    body = json.dumps(
        build_payload(
            "stripe",
            order_id="cs_1",
            email="b@example.com",
            phone="+55 11 98765-4321",
            amount=Decimal("97.00"),
        )
    ).encode()
    adapter = get_gateway("stripe")
    expected = hash_phone("+55 11 98765-4321")
    calls = _count_parses(monkeypatch)
    mapped = adapter.map(body)
    assert mapped.conversion.phone_hash == expected
    assert expected in json.dumps(mapped.payload_redacted)
    assert len(calls) == 1


def test_the_memo_is_scoped_and_keeps_results(monkeypatch) -> None:
    calls = _count_parses(monkeypatch)
    with phones_parsed_once():
        first = normalize_phone("(11) 98765-4321")
        assert normalize_phone("(11) 98765-4321") == first == "5511987654321"
        assert normalize_phone("12", "BR") is None and normalize_phone("12", "BR") is None
    assert len(calls) == 2
    assert normalize_phone("(11) 98765-4321") == first  # outside the block: parsed again, nothing kept
    assert len(calls) == 3
