"""Pin never shows its digits; tokens are salted, stable, and say nothing about the length."""

from __future__ import annotations

import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync import InvalidPinError, LockSyncError, Pin
from trio_locksync.lowlevel import mask_pin

pins = st.text(alphabet="0123456789", min_size=4, max_size=10)


@given(pins)
def test_repr_str_format_never_show_digits(digits: str) -> None:
    pin = Pin(digits)
    for text in (
        repr(pin),
        str(pin),
        f"{pin}",
        f"{pin!r}",
        f"{pin:>20}",
        repr([pin]),
        repr({1: pin}),
    ):
        assert digits not in text
    assert pin.reveal() == digits


def test_logging_a_pin_shows_no_digits(caplog: pytest.LogCaptureFixture) -> None:
    pin = Pin("918273")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").warning("setting %s (%r) token %s", pin, pin, pin.token("slot3"))
    assert "918273" not in caplog.text


def test_equality_and_hash_by_value() -> None:
    assert Pin("1234") == Pin("1234")
    assert Pin("1234") != Pin("4321")
    assert Pin("1234") != "1234"
    assert len({Pin("1234"), Pin("1234"), Pin("9999")}) == 2


def test_immutable() -> None:
    pin = Pin("1234")
    with pytest.raises(AttributeError):
        pin._digits = "0000"  # type: ignore[misc]


def test_pickle_round_trip() -> None:
    pin = Pin("55667788")
    assert pickle.loads(pickle.dumps(pin)) == pin


@pytest.mark.parametrize("bad", ["", "123", "12345678901", "12a4", "１２３４", " 1234", "12.4"])
def test_invalid_pins_raise_without_echoing(bad: str) -> None:
    with pytest.raises(InvalidPinError) as info:
        Pin(bad)
    assert isinstance(info.value, LockSyncError)
    assert isinstance(info.value, ValueError)
    if bad.strip():
        assert bad not in str(info.value)


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidPinError):
        Pin(1234)  # type: ignore[arg-type]


@given(pins, st.text(min_size=1, max_size=8))
def test_token_shape_deterministic_and_length_free(digits: str, salt: str) -> None:
    token = Pin(digits).token(salt)
    assert token == mask_pin(Pin(digits), salt)
    assert token.startswith("pin:")
    assert len(token) == 12  # the same length for every PIN length
    int(token[4:], 16)


def test_token_is_salted_per_slot() -> None:
    pin = Pin("123456")
    assert pin.token("slot1") != pin.token("slot2")
    assert Pin("1234").token("s") != Pin("12345").token("s")


def test_empty_token() -> None:
    assert mask_pin(None, "slot1") == "<empty>"
