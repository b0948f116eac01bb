"""The default JSON codec: byte-identical to json.dumps, strict about what is not JSON."""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.store import json_decoder, json_encoder
from trio_locksync.store._codec import Envelope


def reference(data: Any) -> bytes:
    return json.dumps(
        data,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=lambda o: list(o) if isinstance(o, (set, frozenset)) else None,
    ).encode("utf-8")


keys = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
documents = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=40,
)


@given(documents)
def test_byte_identical_to_json_dumps(data: Any) -> None:
    assert json_encoder(data) == reference(data)


class Point(NamedTuple):
    x: int
    y: int


def test_round_trip_conversions() -> None:
    data = {"p": Point(1, 2), "s": {3}, 7: "one", True: "t", None: "n", 1.5: "f", "u": "ünï"}
    raw = json_encoder(data)
    assert raw == reference(data)
    assert json_decoder(raw) == {
        "p": [1, 2],
        "s": [3],
        "7": "one",
        "true": "t",
        "null": "n",
        "1.5": "f",
        "u": "ünï",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"a": math.nan, "b": 1},
        [math.inf, 1],
        {math.nan: 1, "b": 2},
        {(1, 2): "tuple key", "b": 2},
        {"o": object(), "b": 1},
    ],
)
def test_not_json_is_refused(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        json_encoder(bad)


def test_cycle_is_refused() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    with pytest.raises((ValueError, RecursionError)):
        json_encoder({"a": cyclic, "b": 1})


def test_decoder_rejects_garbage() -> None:
    for raw in (b"", b"{", b"\xff\xfe", b"nan-ish"):
        with pytest.raises(ValueError):
            json_decoder(raw)


def test_envelope_round_trip_and_validation() -> None:
    env = Envelope(2, 3, {"a": 1})
    assert Envelope.from_decoded(env.to_json()) == env
    assert Envelope.from_decoded({"version": 1, "data": 5}) == Envelope(1, 1, 5)
    for bad in (
        [],
        {"version": 1},
        {"version": True, "data": 1},
        {"version": 1, "minor_version": "2", "data": 1},
    ):
        with pytest.raises(ValueError):
            Envelope.from_decoded(bad)
