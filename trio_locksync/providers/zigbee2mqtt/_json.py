"""The one JSON loader every Zigbee2MQTT parser uses: it turns every way a payload can be
unusable into a :class:`PayloadError` carrying a :class:`~._models.BadInput` kind, and never
raises anything else.

Python's ``json`` accepts what no JSON producer sends and fails in ways a caller does not
expect: ``NaN``/``Infinity`` (a ``last_seen: Infinity`` once made every later answer stale),
``1e400`` parsed as ``inf``, integer literals beyond 4,300 digits (``ValueError`` from
``int()``), nesting deeper than the recursion limit (``RecursionError``), and any bytes it can
guess an encoding for. Zigbee2MQTT publishes UTF-8 JSON of a few KiB with finite numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from ._models import BadInput

__all__ = ["MAX_PAYLOAD", "PayloadError", "load_json"]

#: the largest payload parsed at all (a real device message is a few KiB)
MAX_PAYLOAD = 1 << 20
#: the most digits an integer literal may have (epoch milliseconds have 13)
MAX_INT_DIGITS = 20


class PayloadError(Exception):
    """A payload we cannot use at all; ``kind`` says why, never what it held."""

    def __init__(self, kind: BadInput) -> None:
        super().__init__(kind.value)
        self.kind = kind


def _int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1 or len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise PayloadError(BadInput.NUMBER_TOO_LARGE)
    return int(text)


def _float(text: str) -> float:
    value = float(text)  # a JSON number literal never fails here; it may overflow to inf
    if not math.isfinite(value):
        raise PayloadError(BadInput.NON_FINITE)
    return value


def _constant(name: str) -> NoReturn:
    raise PayloadError(BadInput.NON_FINITE)


def load_json(payload: bytes, *, limit: int = MAX_PAYLOAD) -> Any:
    """``payload`` as JSON (any JSON value), or PayloadError: TOO_LARGE (over ``limit``
    bytes), NOT_UTF8, NOT_JSON, TOO_DEEP, NON_FINITE, NUMBER_TOO_LARGE."""
    if len(payload) > limit:
        raise PayloadError(BadInput.TOO_LARGE)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(BadInput.NOT_UTF8) from None
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise PayloadError(BadInput.TOO_DEEP) from None
    except ValueError:  # JSONDecodeError included
        raise PayloadError(BadInput.NOT_JSON) from None
