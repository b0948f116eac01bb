"""Encoding: the default JSON encoder and decoder, the bytes a custom encoder must give, and the
shape of the optional version envelope (``_versions`` decides what its numbers mean)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast, final

import attrs

__all__ = [
    "Decoder",
    "EncodedValues",
    "Encoder",
    "Envelope",
    "encode_payload",
    "json_decoder",
    "json_encoder",
]

Encoder = Callable[[Any], "bytes | str"]
Decoder = Callable[[bytes], Any]


def _default(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(
    default=_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)
#: containers this close to the top are encoded piecewise (see json_encoder)
_CHUNK_DEPTH = 3


def _encode_key(key: object) -> str:
    # json's own key rules: str as is; bool, None, int and float by their JSON spelling.
    if isinstance(key, str):
        text = key
    elif key is True or key is False or key is None:
        text = _ENCODER.encode(key)
    elif isinstance(key, int):
        text = int.__repr__(key)
    elif isinstance(key, float):
        text = _ENCODER.encode(key)  # raises for NaN and infinities, as json.dumps does
    else:
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
    return _ENCODER.encode(text)


@final
class EncodedValues(Mapping[str, str]):
    """A JSON object whose values are already encoded: ``{key: "<JSON text>"}``.

    :func:`json_encoder` writes each value verbatim, so a caller that keeps many small records
    in their encoded form (the autolock timer store keeps one compact string per timer instead
    of a dict and its strings) hands them over without rebuilding them. The texts must be
    valid compact JSON, as the encoder itself would write them; nothing checks that. Only
    json_encoder knows it, and only in the top three levels of a document (deeper, or with
    another encoder, it raises TypeError).
    """

    __slots__ = ("_texts",)

    def __init__(self, texts: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        self._texts = dict(texts)

    def __getitem__(self, key: str) -> str:
        return self._texts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


def _encode_into(value: object, parts: list[str], depth: int) -> None:
    if type(value) is EncodedValues:
        parts.append("{")
        for index, (key, text) in enumerate(value._texts.items()):
            parts.append(("," if index else "") + _encode_key(key) + ":" + text)
        parts.append("}")
    elif depth < _CHUNK_DEPTH and isinstance(value, dict) and value:
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            parts.append(("," if index else "") + _encode_key(key) + ":")
            _encode_into(item, parts, depth + 1)
        parts.append("}")
    elif depth < _CHUNK_DEPTH and isinstance(value, (list, tuple)) and value:
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode_into(item, parts, depth + 1)
        parts.append("]")
    else:
        parts.append(_ENCODER.encode(value))


def json_encoder(data: Any) -> bytes:
    """Compact UTF-8 JSON, byte for byte what ``json.dumps(..., separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)`` gives. Tuples (and NamedTuples) and sets become lists,
    int keys become strings; NaN and infinities are refused (they are not JSON).

    The top levels of the document are encoded piece by piece. json's C encoder holds the GIL for
    a whole call, so one call over a 1 MB document would stall the trio thread for the full
    encode (~18 ms here) even from a worker thread; piecewise, the interpreter hands the GIL
    back between pieces. (No encoder run in another thread can make a live object safe to
    mutate meanwhile: the trio thread can be pre-empted mid-step. See ``open_store``.)
    """
    parts: list[str] = []
    _encode_into(data, parts, 0)
    return "".join(parts).encode("utf-8")


# json's own C helpers (untyped in typeshed): a string's end, and one value at an index
_scanstring = cast(Callable[[str, int], tuple[str, int]], json.decoder.scanstring)  # type: ignore[attr-defined]
_SCAN_VALUE = cast(Callable[[str, int], tuple[Any, int]], json.JSONDecoder().scan_once)  # type: ignore[attr-defined]
# whitespace as JSON has it; the pattern matches anywhere (possibly empty), never None
_SKIP_SPACE = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)


def _trailing_comma_message() -> str | None:
    """What this Python's json says of ``{"a":1,}`` if it names the trailing comma (3.13 does,
    at the comma), else None (it expects a property name there, as the loop does anyway)."""
    try:
        json.loads('{"a":1,}')
    except json.JSONDecodeError as exc:
        return exc.msg if exc.pos == 6 and "comma" in exc.msg else None
    return None  # pragma: no cover - no json accepts it


_TRAILING_COMMA = _trailing_comma_message()


def json_decoder(raw: bytes) -> Any:
    """Parse UTF-8 JSON; raises ``json.JSONDecodeError`` (a ValueError) on anything else, as
    ``json.loads`` does (the store reports it as corrupt).

    The same result as ``json.loads(raw)``, but a top-level object is decoded member by member:
    json's C decoder holds the GIL for a whole call, so one call over a 7.8 MiB file held every
    other thread -- the trio thread too -- for ~0.1 s, even from a worker thread. Member by
    member, the interpreter hands the GIL back every few milliseconds (for ~50 % more decode
    CPU). Anything else (an array, a scalar) is one ``json.loads`` call.
    """
    text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    skip, scan = _SKIP_SPACE, _SCAN_VALUE
    i = skip(text, 0).end()
    if not text.startswith("{", i):
        return json.loads(text)
    found: dict[str, Any] = {}
    i = skip(text, i + 1).end()
    if text.startswith("}", i):
        i += 1
    else:
        while True:
            if not text.startswith('"', i):
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, i
                )
            key, i = _scanstring(text, i + 1)
            if text.startswith(":", i):
                i += 1
            else:
                i = skip(text, i).end()
                if not text.startswith(":", i):
                    raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
                i += 1
            try:
                found[key], i = scan(text, i)
            except StopIteration as stop:
                if stop.value != i:  # deeper in the value: where json.loads says it is
                    raise json.JSONDecodeError("Expecting value", text, stop.value) from None
                i = skip(text, i).end()
                try:
                    found[key], i = scan(text, i)
                except StopIteration as again:
                    raise json.JSONDecodeError("Expecting value", text, again.value) from None
            if text.startswith(',"', i):  # compact JSON: the next member follows at once
                i += 1
                continue
            i = skip(text, i).end()
            if text.startswith(",", i):
                comma, i = i, skip(text, i + 1).end()
                if _TRAILING_COMMA and text.startswith("}", i):
                    raise json.JSONDecodeError(_TRAILING_COMMA, text, comma)
                continue
            if text.startswith("}", i):
                i += 1
                break
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
    end = skip(text, i).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return found


def encode_payload(encoder: Encoder, data: Any) -> bytes:
    """What ``encoder`` makes of ``data``, as bytes (a str is UTF-8 encoded); ``TypeError`` if
    the encoder returned anything else."""
    payload = encoder(data)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"encoder returned {type(payload).__name__}, expected bytes or str")
    return bytes(payload)


@attrs.frozen
class Envelope:
    """The versioned wrapper ``{"version", "minor_version", "data"}`` (Home Assistant's shape)."""

    version: int
    minor_version: int
    data: Any

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "minor_version": self.minor_version, "data": self.data}

    @classmethod
    def from_decoded(cls, decoded: object) -> Envelope:
        """Read an envelope; ``ValueError`` if ``decoded`` is not one. A missing ``minor_version``
        (files written before minor versions existed) reads as 1."""
        if not isinstance(decoded, Mapping) or "data" not in decoded:
            raise ValueError(
                "not a versioned envelope (expected an object with 'version' and 'data')"
            )
        version = decoded.get("version")
        minor = decoded.get("minor_version", 1)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("envelope 'version' is not an integer")
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise ValueError("envelope 'minor_version' is not an integer")
        return cls(version=version, minor_version=minor, data=decoded["data"])
