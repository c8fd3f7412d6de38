"""Button data is untrusted input: typed, within 64 bytes, and refused when malformed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.languages import Language
from handlers.buttons import ButtonData, unpack
from handlers.contract import MAX_BUTTON_DATA_BYTES, Button
from handlers.features.language import ChooseLanguage
from handlers.features.phones import RemovePhone
from handlers.features.privacy import AnswerErase
from handlers.features.recharge import RechargeProduct


@dataclass(frozen=True)
class _Sample(ButtonData, prefix="t-sample"):
    order_id: int
    label: str


def test_round_trip_of_typed_fields() -> None:
    for data in (RemovePhone(42), ChooseLanguage(Language.EN), AnswerErase(True), _Sample(7, "x")):
        assert unpack(data.pack()) == data


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "nope",
        "ph-",
        "ph-:abc",
        "ph-:1:2",
        "ph-:1.5",
        "lang:fr",
        "erase:2",
        "erase:yes",
        "ph-:" + "9" * 40,
        "ph-:2147483648",
        "ph-:-1",
        "ph-:01",
        "ph-:١",
        "ofr-t:\x00",
        "ofr-t:" + "a" * 49,
        "ofr-t:双11",
        "ofr-t:",
        "x" * 65,
    ],
)
def test_forged_or_malformed_data_is_refused(forged: str) -> None:
    assert unpack(forged) is None


def test_data_over_64_bytes_cannot_be_packed() -> None:
    with pytest.raises(ValueError):
        _Sample(1, "长" * 30).pack()
    with pytest.raises(ValueError):
        Button("too long", data="x" * (MAX_BUTTON_DATA_BYTES + 1))


def test_separator_inside_a_value_cannot_be_packed() -> None:
    with pytest.raises(ValueError):
        _Sample(1, "a:b").pack()


def test_a_prefix_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError):

        @dataclass(frozen=True)
        class _Again(ButtonData, prefix="t-sample"):
            pass


@given(st.text(max_size=80))
def test_any_text_either_unpacks_to_a_declared_shape_or_is_refused(data: str) -> None:
    parsed = unpack(data)
    if parsed is not None:
        assert parsed.pack() == data or unpack(parsed.pack()) == parsed


def test_a_button_sent_before_a_field_was_added_still_works() -> None:
    assert unpack("rcp:5") == RechargeProduct(5, 0)
    assert unpack("rcp:5:7") == RechargeProduct(5, 7)
    assert unpack("rcp") is None  # the field without a default is still required
    assert unpack("rcp:5:7:9") is None
