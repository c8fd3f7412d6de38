"""Mainland China mobile numbers: what customers type, what is accepted, how it is shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.phone import Carrier, PhoneNumberError, mask, parse_phone_number


@pytest.mark.parametrize(
    ("typed", "digits", "carrier"),
    [
        ("18612345678", "18612345678", Carrier.UNICOM),
        ("13800138000", "13800138000", Carrier.MOBILE),
        ("+86 189 1234 5678", "18912345678", Carrier.TELECOM),
        ("0086-155-0000-1111", "15500001111", Carrier.UNICOM),
        ("8619212345678", "19212345678", Carrier.BROADNET),
        (" 166 1234 5678 ", "16612345678", Carrier.UNICOM),
        ("17001234567", "17001234567", Carrier.TELECOM),
        ("17051234567", "17051234567", Carrier.MOBILE),
        ("17091234567", "17091234567", Carrier.UNICOM),
        ("13491234567", "13491234567", Carrier.TELECOM),
        ("13401234567", "13401234567", Carrier.MOBILE),
        # What a Chinese keyboard types: full-width digits and signs.
        ("１８６１２３４５６７８", "18612345678", Carrier.UNICOM),
        ("＋８６ １８６－１２３４－５６７８", "18612345678", Carrier.UNICOM),
    ],
)
def test_valid_numbers_are_normalised_and_carrier_recognised(
    typed: str, digits: str, carrier: Carrier
) -> None:
    number = parse_phone_number(typed)
    assert number.digits == digits
    assert number.carrier is carrier


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "not_digits"),
        ("hello", "not_digits"),
        ("1861234567a", "not_digits"),
        ("١٨٦١٢٣٤٥٦٧٨", "not_digits"),  # digits of another script are refused, not guessed
        ("1861234567", "length"),
        ("186123456789", "length"),
        ("28612345678", "length"),
        ("12012345678", "segment"),
        ("14012345678", "segment"),
        ("16012345678", "segment"),
        ("17410234567", "segment"),
        ("19412345678", "segment"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(PhoneNumberError) as error:
        parse_phone_number(typed)
    assert error.value.reason == reason


def test_masking_shows_first_three_and_last_four_digits_only() -> None:
    assert mask("13812345678") == "138****5678"
    assert parse_phone_number("18612345678").masked == "186****5678"


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_any_eleven_digits_are_either_a_number_with_a_carrier_or_refused(digits: str) -> None:
    try:
        number = parse_phone_number(digits)
    except PhoneNumberError as error:
        assert error.reason in {"length", "segment"}
    else:
        assert number.digits == digits
        assert number.masked[:3] == digits[:3] and number.masked[-4:] == digits[-4:]
        assert digits[3:7] not in number.masked


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    try:
        number = parse_phone_number(text)
    except PhoneNumberError:
        return
    assert len(number.digits) == 11 and number.digits.isdigit()
