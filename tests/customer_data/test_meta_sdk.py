"""Our normalised hashes against the official ``facebook-business`` SDK normaliser (UserData.normalize).

Where both follow Meta's rules the hashes are equal. Where the SDK departs from Meta's published rules the
test pins both outputs, so docs/gateways.md ("Customer data: where Meta's rules and the SDK disagree")
stays true: we follow Meta's text.
"""

from __future__ import annotations

import pytest
from facebook_business.adobjects.serverside.gender import Gender
from facebook_business.adobjects.serverside.user_data import UserData

from trackai.core import customer, pii
from trackai.core.pii import sha256_hex


def sdk(**kw) -> dict[str, str]:
    return {k: v[0] for k, v in UserData(**kw).normalize().items()}


def ours(**raw) -> dict[str, str]:
    return customer.hashed_fields(**raw)


def test_canonical_inputs_hash_exactly_as_the_sdk():
    raw = {
        "first_name": "Maria",
        "last_name": "Souza",
        "city": "São Paulo",
        "state": "SP",
        "zip_code": "01310100",
        "country": "BR",
        "birth_date": "19900131",
        "gender": "f",
    }
    theirs = sdk(
        first_name="Maria",
        last_name="Souza",
        city="São Paulo",
        state="SP",
        zip_code="01310100",
        country_code="BR",
        date_of_birth="19900131",
        gender=Gender.FEMALE,
    )
    assert ours(**raw) == theirs
    assert set(theirs) == set(customer.KEYS)


@pytest.mark.parametrize("code", sorted(customer.ISO_ALPHA2))
def test_every_iso_country_code_hashes_as_the_sdk(code):
    assert ours(country=code)["country"] == sdk(country_code=code)["country"]


def test_sdk_cuts_a_brazilian_cep_to_5_digits_we_keep_8():
    assert sdk(zip_code="01310-100")["zp"] == sha256_hex("01310")  # the US ZIP+4 rule applied to a CEP
    assert ours(zip_code="01310-100")["zp"] == sha256_hex("01310100")


def test_sdk_never_adds_the_country_code_we_add_55():
    assert sdk(phone="(11) 98765-4321")["ph"] == sha256_hex("11987654321")  # 11 taken as a country code
    assert pii.hash_phone("(11) 98765-4321") == sha256_hex("5511987654321")
    assert sdk(phone="5511987654321")["ph"] == pii.hash_phone("(11) 98765-4321")


def test_sdk_hashes_a_number_without_area_code_we_drop_it():
    assert sdk(phone="98765-4321")["ph"] == sha256_hex("987654321")
    assert pii.hash_phone("98765-4321") is None


def test_sdk_misreads_the_carrier_selection_form_we_read_it():
    # The SDK strips the 0 and takes the carrier code 21 for a country code: a number no one has.
    assert sdk(phone="0 21 (11) 98765-4321")["ph"] == sha256_hex("2111987654321")
    assert pii.hash_phone("0 21 (11) 98765-4321") == sha256_hex("5511987654321")


def test_sdk_keeps_punctuation_in_names_and_cities_meta_says_none():
    assert sdk(last_name="D'Ávila")["ln"] == sha256_hex("d'ávila")
    assert ours(last_name="D'Ávila")["ln"] == sha256_hex("dávila")
    assert sdk(city="Santa Bárbara d'Oeste")["ct"] == sha256_hex("santabárbarad'oeste")
    assert ours(city="Santa Bárbara d'Oeste")["ct"] == sha256_hex("santabárbaradoeste")


def test_sdk_hashes_a_full_name_as_one_first_name_we_split_it():
    assert sdk(first_name="Maria Souza")["fn"] == sha256_hex("maria souza")
    assert ours(full_name="Maria Souza") == {"fn": sha256_hex("maria"), "ln": sha256_hex("souza")}


def test_sdk_does_not_reformat_birth_dates_we_send_yyyymmdd():
    assert sdk(date_of_birth="1990-01-31")["db"] == sha256_hex("1990-01-31")
    assert ours(birth_date="1990-01-31")["db"] == sha256_hex("19900131")


def test_sdk_does_not_map_state_or_country_names_we_do():
    assert sdk(state="São Paulo")["st"] == sha256_hex("sãopaulo")
    assert ours(state="São Paulo")["st"] == sha256_hex("sp")
    with pytest.raises(TypeError):
        sdk(country_code="Brasil")  # not an ISO code: the SDK raises and the whole event fails
    assert ours(country="Brasil")["country"] == sha256_hex("br")


def test_email_and_phone_in_canonical_form_agree_with_the_sdk():
    assert pii.hash_email(" Maria@Example.COM ") == sdk(email=" Maria@Example.COM ")["em"]
    assert pii.hash_phone("+55 11 98765-4321") == sdk(phone="+55 11 98765-4321")["ph"]
