"""The store's default decoder reads a top-level object member by member (so a worker thread
decoding a large file hands the GIL back): it must give exactly what ``json.loads`` gives, and
refuse exactly what it refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.store import json_decoder

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b) and type(a) is type(b)


@given(st.dictionaries(st.text(), json_values, max_size=8), st.sampled_from([None, 0, 2]))
def test_object_decodes_as_json_loads(doc: dict[str, Any], indent: int | None) -> None:
    for separators in ((",", ":"), (", ", ": ")):
        for ascii_only in (True, False):
            text = json.dumps(doc, indent=indent, separators=separators, ensure_ascii=ascii_only)
            raw = text.encode("utf-8")
            assert same(json_decoder(raw), json.loads(raw))


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        " { } ",
        '{"a" : 1 , "b":[1,2] }',
        ' {"a":1}\n',
        '{"a":{"b":1}, "a":2}',  # a repeated key: the last wins
        '{"\\ud800":1}',
        '{"a": NaN, "b": -Infinity}',
        "[1, 2]",
        '"text"',
        "\ufeff{}",  # a UTF-8 BOM on bytes: json.loads accepts it
    ],
)
def test_accepts_what_json_loads_accepts(text: str) -> None:
    raw = text.encode("utf-8")
    decoded, expected = json_decoder(raw), json.loads(raw)
    if isinstance(expected, dict) and any(
        isinstance(v, float) and math.isnan(v) for v in expected.values()
    ):
        assert json.dumps(decoded) == json.dumps(expected)
    else:
        assert decoded == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"a":1,}',
        '{"a":1',
        '{"a" 1}',
        '{"a":1} x',
        '{"a":1}{',
        '{"a":}',
        "{,}",
        '{"a":1,,"b":2}',
        "{'a':1}",
        '{"a":1 "b":2}',
        '{"a":"unterminated}',
        "{a:1}",
        '{"a": [1,]}',
        '{"a": {"b": tru}}',
        '{"a":1}   x',
        '{"a":  ',
        '{"a": nul}',
        '{"a":1 , }',
        '{"a":1,\n}',
        '{"a":1,,}',
    ],
)
def test_refuses_what_json_loads_refuses(text: str) -> None:
    raw = text.encode("utf-8")
    with pytest.raises(ValueError) as expected:
        json.loads(raw)
    with pytest.raises(ValueError) as caught:
        json_decoder(raw)
    assert type(caught.value) is type(expected.value)  # the name shows in StoreCorruptError
    assert str(caught.value) == str(expected.value)  # message, line, column and position


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(ValueError):
        json_decoder(b'{"a":"\xff"}')
