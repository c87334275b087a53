"""Each customer field Meta scores, normalised by Meta's rules (meta_capi.md §A3) before hashing."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackai.core import customer
from trackai.core.pii import sha256_hex


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Maria Souza", ("maria", "souza")),
        ("  MARIA   clara de souza SANTOS ", ("maria", "santos")),  # particles skipped, last surname
        ("João da Silva Filho", ("joão", "silva")),  # generational suffix is no surname
        ("José dos Santos Júnior", ("josé", "santos")),
        ("Ana D'Ávila", ("ana", "dávila")),  # punctuation out, accent kept (Meta: Valéry -> valéry)
        ("Ana-Luísa Pereira-Neves", ("analuísa", "pereiraneves")),
        ("Madonna", ("madonna", None)),  # one word: a first name only
        ("Filho", ("filho", None)),
        ("   ", (None, None)),
        ("123 !!", (None, None)),
    ],
)
def test_full_names_split_sensibly(full, expected):
    assert customer.split_full_name(full) == expected


def test_explicit_first_and_last_names_win_over_the_full_name():
    fields = customer.normalized_fields(first_name="Maria Clara", last_name="de Souza", full_name="X Y")
    assert (fields["fn"], fields["ln"]) == ("maria", "souza")
    only_first = customer.normalized_fields(first_name="Maria", full_name="Maria Souza")  # Kiwify
    assert (only_first["fn"], only_first["ln"]) == ("maria", "souza")


def test_unicode_forms_hash_the_same():
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    assert customer.normalize_first_name(composed) == customer.normalize_first_name(decomposed) == "josé"


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("BR", "br"),
        ("br", "br"),
        ("Brasil", "br"),
        ("Brazil", "br"),
        ("BRA", "br"),
        (" brasil ", "br"),
        ("República Federativa do Brasil", "br"),
        ("US", "us"),
        ("EUA", "us"),
        ("Portugal", "pt"),
        ("XX", None),
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_country_is_lowercase_alpha2(raw, iso):
    assert customer.normalize_country(raw) == iso


@pytest.mark.parametrize(
    ("raw", "country", "st_"),
    [
        ("SP", "br", "sp"),
        ("sp", "br", "sp"),
        ("São Paulo", "br", "sp"),
        ("Rio de Janeiro", "br", "rj"),
        ("distrito federal", None, "df"),
        ("Mato Grosso do Sul", "br", "ms"),
        ("Narnia", "br", None),
        ("CA", "us", "ca"),
        ("Île-de-France", "fr", "îledefrance"),
    ],
)
def test_state(raw, country, st_):
    assert customer.normalize_state(raw, country) == st_


@pytest.mark.parametrize(
    ("raw", "country", "zp"),
    [
        ("01310-100", "br", "01310100"),
        ("01310100", "br", "01310100"),
        (" 01310 100 ", "br", "01310100"),
        ("01.310-100", None, "01310100"),
        (1310100, "br", "01310100"),
        ("1310-100", "br", None),
        ("01310-10A", "br", None),
        ("94025-1234", "us", "94025"),
        ("M1 1AE", "gb", "m11ae"),
    ],
)
def test_postal_code_brazilian_cep_keeps_its_8_digits(raw, country, zp):
    assert customer.normalize_zip(raw, country) == zp


@pytest.mark.parametrize(
    ("raw", "db"),
    [
        ("1990-01-31", "19900131"),
        ("1990-1-5", "19900105"),
        ("31/01/1990", "19900131"),
        ("1990-01-31T00:00:00Z", "19900131"),
        ("19900131", "19900131"),
        ("1990-02-30", None),
        ("01/31/1990", None),
        ("1850-01-01", None),
        ("2999-01-01", None),
        ("", None),
        (None, None),
    ],
)
def test_birth_date_is_yyyymmdd(raw, db):
    assert customer.normalize_birth_date(raw, today=date(2026, 11, 26)) == db


@pytest.mark.parametrize(
    ("raw", "ge"),
    [("F", "f"), ("female", "f"), ("Feminino", "f"), ("M", "m"), ("masculino", "m"), ("x", None)],
)
def test_gender(raw, ge):
    assert customer.normalize_gender(raw) == ge


def test_city_has_no_spaces_digits_or_punctuation_and_keeps_accents():
    assert customer.normalize_city("São Paulo") == "sãopaulo"
    assert customer.normalize_city("Santa Bárbara d'Oeste") == "santabárbaradoeste"
    assert customer.normalize_city(" New York 10001 ") == "newyork"


def test_hashed_fields_only_hashes_and_only_what_is_usable():
    hashed = customer.hashed_fields(full_name="Maria Souza", city="", state="Narnia", zip_code="01310-100")
    assert hashed == {"fn": sha256_hex("maria"), "ln": sha256_hex("souza"), "zp": sha256_hex("01310100")}
    assert customer.hashed_fields() == {}


def test_empty_and_out_of_set_hashes_are_never_kept():
    assert (
        customer.clean_hashes({"fn": sha256_hex(""), "ge": sha256_hex("x"), "country": sha256_hex("zz")})
        == {}
    )
    kept = {"ge": sha256_hex("f"), "country": sha256_hex("br"), "zz": sha256_hex("a")}
    assert customer.clean_hashes(kept) == {"ge": sha256_hex("f"), "country": sha256_hex("br")}


@given(st.text(max_size=60))
def test_normalisers_never_raise_and_never_return_empty(text):
    for fn in (
        customer.normalize_first_name,
        customer.normalize_last_name,
        customer.normalize_city,
        customer.normalize_country,
        customer.normalize_state,
        customer.normalize_zip,
        customer.normalize_birth_date,
        customer.normalize_gender,
    ):
        assert fn(text) != ""
