"""The default JSON encoding and the optional version envelope."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Envelope", "json_decoder", "json_encoder", "json_encoder_chunked"]


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


def _encode_into(value: object, parts: list[str], depth: int) -> None:
    if depth < _CHUNK_DEPTH and isinstance(value, dict) and len(value) > 1:
        parts.append("{")
        for index, (key, item) in enumerate(value.items()):
            parts.append(("," if index else "") + _encode_key(key) + ":")
            _encode_into(item, parts, depth + 1)
        parts.append("}")
    elif depth < _CHUNK_DEPTH and isinstance(value, (list, tuple)) and len(value) > 1:
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode_into(item, parts, depth + 1)
        parts.append("]")
    else:
        parts.append(_ENCODER.encode(value))


def json_encoder(data: Any) -> bytes:
    """Compact UTF-8 JSON. Tuples (and NamedTuples) and sets become lists, int keys become strings;
    NaN and infinities are refused (they are not JSON).

    One call of json's C encoder, which holds the GIL throughout: for plain JSON data no trio task
    can run half-way through, so a live structure is captured as it was at one instant. The price
    is that the trio thread waits for the encode (about 15 ms per MB here); see
    :func:`json_encoder_chunked` for large documents.
    """
    return _ENCODER.encode(data).encode("utf-8")


def json_encoder_chunked(data: Any) -> bytes:
    """Byte for byte :func:`json_encoder`, but the top levels are encoded piece by piece so the
    interpreter can hand the GIL back to the trio thread between pieces (a 1 MB document then
    stalls it ~6 ms instead of ~17 ms).

    Other tasks run during the encode, so the data must not change meanwhile: use it with a
    ``data_func`` that builds a fresh structure, or with ``open_store(snapshot=copy.deepcopy)``.
    """
    parts: list[str] = []
    _encode_into(data, parts, 0)
    return "".join(parts).encode("utf-8")


def json_decoder(raw: bytes) -> Any:
    """Parse UTF-8 JSON; raises on anything else (the store reports it as corrupt)."""
    return json.loads(raw)


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
