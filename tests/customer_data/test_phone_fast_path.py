"""Issue 21: the Brazilian phone fast path in ``pii._normalize_phone`` gives exactly what the
phonenumbers-only path gives (the same function with ``fast=False``), for Brazilian numbers in every form
a gateway sends and for foreign and malformed ones."""

from __future__ import annotations

import phonenumbers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trackai.core import pii

DDD = st.integers(min_value=10, max_value=99).map(str)
SEPARATORS = st.sampled_from(["", " ", "-", ".", ") ", "  "])
PREFIXES = st.sampled_from(["+55", "55", "+55 ", "0055", "0", "0 21 ", "021", "90", "+", "", "(", "00"])


@st.composite
def brazilian(draw) -> str:
    subscriber = draw(st.text("0123456789", min_size=7, max_size=10))
    lead = draw(st.sampled_from(["9", "8", "7", "6", "5", "4", "3", "2", "1", "0", ""]))
    sep = draw(SEPARATORS)
    return f"{draw(PREFIXES)}{sep}{draw(DDD)}{sep}{lead}{subscriber[:4]}{sep}{subscriber[4:]}"


@st.composite
def foreign(draw) -> str:
    code = draw(st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)))
    national = draw(st.text("0123456789", min_size=4, max_size=13))
    return f"{draw(st.sampled_from(['+', '00', '']))}{code}{draw(SEPARATORS)}{national}"


ANY_PHONE = st.one_of(
    brazilian(),
    foreign(),
    st.text("0123456789", min_size=1, max_size=16),
    st.text("+0123456789 ()-.x", max_size=24),
    st.integers(min_value=0, max_value=10**14),
)


def _both(raw, region: str = "BR") -> tuple[str | None, str | None]:
    return pii._normalize_phone(raw, region), pii._normalize_phone(raw, region, fast=False)


@settings(max_examples=3000, deadline=None)
@given(ANY_PHONE, st.sampled_from(["BR", "BR", "BR", "PT", "US"]))
@example("11987654321", "BR")
@example("+55 11 98765-4321", "BR")
@example("5511987654321", "BR")
@example("1187654321", "BR")  # old 8-digit mobile: gets its 9
@example("1132654321", "BR")  # landline
@example("5591234567", "BR")  # DDD 55 without the country code: phonenumbers' own reading
@example("55991234567", "BR")
@example("9011987654321", "BR")  # 90 + carrier: phonenumbers strips it
@example("08001234567", "BR")  # toll free
@example("+5508001234567", "BR")
@example("+551140041234", "BR")  # shared cost (4004)
@example("+5530031234", "BR")
@example("+5510987654321", "BR")  # no DDD 10
@example("+351912345678", "PT")
@example(11987654321, "BR")
def test_fast_path_equals_phonenumbers(raw, region) -> None:
    fast, slow = _both(raw, region)
    assert fast == slow


@settings(max_examples=500, deadline=None)
@given(brazilian())
def test_hash_is_the_phonenumbers_hash(raw) -> None:
    expected = pii._normalize_phone(raw, "BR", fast=False)
    assert pii.hash_phone(raw) == (pii.sha256_hex(expected) if expected else None)


def test_the_fast_path_is_taken_for_ordinary_brazilian_numbers(monkeypatch) -> None:
    """The numbers the gateways send most (+55 / national, DDD + 8/9 digits) never reach parse."""

    def refuse(*args, **kwargs):
        raise AssertionError("phonenumbers.parse called")

    monkeypatch.setattr(pii.phonenumbers, "parse", refuse)
    assert pii.normalize_phone("+55 (11) 98765-4321") == "5511987654321"
    assert pii.normalize_phone("11987654321") == "5511987654321"
    assert pii.normalize_phone("5511987654321") == "5511987654321"
    assert pii.normalize_phone("(21) 8765-4321") == "5521987654321"
    assert pii.normalize_phone("1132654321") == "551132654321"
    assert pii.normalize_phone("1112345678") is None  # fixed-line range [2-5] and no mobile 1: invalid
