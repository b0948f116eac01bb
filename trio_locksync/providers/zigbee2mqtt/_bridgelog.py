"""Failure reports on ``bridge/logging``, sans-I/O: which log lines say that a ``set`` or
``get`` to our device failed, why, and for which user.

Zigbee2MQTT reports a failed publish only in its log (``lib/extension/publish.ts``:
``Publish '<type>' '<key>' to '<name>' failed: '<error>'``, level ``error``), which
``lib/extension/bridge.ts`` republishes on ``bridge/logging`` as ``{"level": ..., "message":
...}``. Since 1.39/2.x the logger puts the namespace *inside* the message
(``lib/util/logger.ts``: ``info.message = `${info.namespace}: ${info.message}```), so a real
line reads ``z2m: Publish 'get' 'pin_code' to 'front_door' failed: '...'``; 1.38 and older sent
the bare form, some with a separate ``namespace`` key. Both are accepted. The error text holds
the PIN of a failed set in clear: it is matched, never kept or shown.

An out-of-range user is refused by the converter before any radio traffic
(zigbee-herdsman-converters ``toZigbee.ts`` ``pincode_lock``: ``user must be in range for
device``); a ZCL error status (``Status 'INVALID_FIELD'``) is the lock's refusal. Neither is
helped by repeating; a timeout is neither.
"""

from __future__ import annotations

import functools
import re
from typing import final

import attrs

from ._json import PayloadError, load_json
from ._models import BadInput

__all__ = ["PublishFailure", "parse_bridge_log"]

#: the largest Zigbee user id (65535 means "no user")
MAX_USER = 65534


@final
@attrs.frozen
class PublishFailure:
    """Zigbee2MQTT reported that a ``set``/``get`` to this device failed (``bridge/logging``,
    level error). ``user`` is the user id of the ZCL command when the message names one;
    ``unreachable``: the command never reached the lock (delivery failed, no route);
    ``refused``: Zigbee2MQTT or the lock said no to the command itself — the user id is out of
    the lock's range (``must be in range for device``) or the lock answered a ZCL error status
    — so repeating it will not help (a timeout is neither); ``out_of_range``: refused for the
    first of those reasons (the lock has no such user)."""

    operation: str
    attribute: str
    user: int | None
    unreachable: bool
    refused: bool = False
    out_of_range: bool = False


#: a logger namespace and its separator: ``z2m: ``, ``z2m:mqtt: ``, ``zh:ember:uart:ash: ``
_NAMESPACE = r"[A-Za-z][A-Za-z0-9_-]{0,31}(?::[A-Za-z0-9_-]{1,32}){0,7}: "
#: ``"userid":4`` in the ZCL payload dump of a herdsman error (or a ``"user":`` form)
_USERID = re.compile(r'"user(?:id)?"\s*:\s*([0-9]+)', re.IGNORECASE)
_UNREACHABLE = ("Delivery failed", "No network route", "MAC_NO_ACK", "NWK_NO_ROUTE")
_OUT_OF_RANGE = "must be in range"
_REFUSED = re.compile(rf"{_OUT_OF_RANGE}|Status '(?!TIMEOUT)[A-Z_]+'")


@functools.lru_cache(maxsize=64)
def _failed(friendly_name: str) -> re.Pattern[str]:
    # The name is matched literally: friendly names may hold quotes, colons, spaces.
    name = re.escape(friendly_name)
    return re.compile(rf"(?:{_NAMESPACE})?Publish '(set|get)' '([^']*)' to '{name}' failed: ")


def parse_bridge_log(payload: bytes, friendly_name: str) -> PublishFailure | None:
    """A ``bridge/logging`` message that reports a failed publish to ``friendly_name``; None
    for any other well-formed log line (this topic carries every log line of Zigbee2MQTT).
    PayloadError for a message that is no log line at all (its ``kind``: one of
    :func:`~._json.load_json`'s, NOT_OBJECT, LOG_LINE) or a failure line for this device with
    a user id out of range (LOG_USER)."""
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise PayloadError(BadInput.NOT_OBJECT)
    level, message = obj.get("level"), obj.get("message")
    namespace = obj.get("namespace")
    if not (isinstance(level, str) and isinstance(message, str)):
        raise PayloadError(BadInput.LOG_LINE)
    if namespace is not None and not isinstance(namespace, str):
        raise PayloadError(BadInput.LOG_LINE)
    if level != "error":
        return None
    match = _failed(friendly_name).match(message)
    if match is None:
        return None
    unreachable = any(word in message for word in _UNREACHABLE)
    refused = not unreachable and _REFUSED.search(message) is not None
    return PublishFailure(
        operation=match.group(1),
        attribute=match.group(2),
        user=_user(message),
        unreachable=unreachable,
        refused=refused,
        out_of_range=refused and _OUT_OF_RANGE in message,
    )


def _user(message: str) -> int | None:
    found = _USERID.search(message)
    if found is None:
        return None
    digits = found.group(1)
    # bounded before int(): int() of over 4,300 digits raises ValueError (Python >= 3.11)
    if len(digits) > len(str(MAX_USER)) or int(digits) > MAX_USER:
        raise PayloadError(BadInput.LOG_USER)
    return int(digits)
