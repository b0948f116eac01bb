"""What Zigbee2MQTT publishes about a lock, sans-I/O: device-state messages, availability
flags, failure reports on ``bridge/logging`` — and what a ``users`` entry means as a
:class:`SlotCredential`.

Facts (zigbee-herdsman-converters ``fz.lock``, ``fz.lock_pin_code_response``; Zigbee2MQTT
``state.ts``, ``availability.ts``, ``bridge.ts``, ``publish.ts``; the project's research
notes, which correct SPEC where they differ):

* A device-state message is the device's whole cached state, deep-merged. Read answers come
  as its ``users`` object: ``{"users": {"3": {"status": "enabled", "pin_code": "1234"}}}``;
  ``pin_code`` only with the device option ``expose_pin``. Older converters sent it as a
  byte-index object (``{"0": 49, ...}``, decoded here as ASCII; ``{}`` is an empty buffer).
  ``lock_state`` (``locked``/``unlocked``/``not_fully_locked``) is preferred to ``state``
  (``LOCK``/``UNLOCK``: a jam says UNLOCK). ``last_seen`` is ISO 8601 or epoch ms.
* Availability: ``{"state": "online"|"offline"}``, or the plain string of Zigbee2MQTT 1.x's
  legacy payload; an empty retained payload clears it.
* A failed ``set``/``get`` is only logged: ``bridge/logging`` carries ``{"level": "error",
  "message": "Publish 'set' 'pin_code' to 'front_door' failed: ..."}`` — with the PIN of a
  failed set in clear. There is no other failure report, and no success report at all.

Nothing here logs or formats a payload: PINs travel in them.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any, final

import attrs

from ...core import InvalidPinError, Pin
from ...credentials import SlotCredential
from ._actions import Action, parse_action
from ._models import Availability, LockState

__all__ = [
    "DeviceMessage",
    "PayloadError",
    "PublishFailure",
    "UserEntry",
    "parse_availability",
    "parse_bridge_log",
    "parse_device_message",
    "project",
]

#: the largest Zigbee user id (65535 means "no user")
_MAX_USER = 65534


class PayloadError(Exception):
    """A payload we cannot use at all; ``kind`` says why, never what it held."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@final
@attrs.frozen(repr=False)
class UserEntry:
    """One ``users`` entry, normalised: its ``status`` string and its ``pin_code`` as a string
    (None: absent or null; ``"?"``: a shape we cannot decode). Equal entries compare equal, so
    a restated entry is recognised. ``repr`` never shows the code."""

    status: str
    pin_code: str | None

    def __repr__(self) -> str:
        code = "none" if self.pin_code is None else "<present>"
        return f"UserEntry(status={self.status!r}, pin_code={code})"


@final
@attrs.frozen(repr=False)
class DeviceMessage:
    """A device-state message: its ``users`` entries (user id -> entry), the bolt state it
    reports (None: none), its action, ``last_seen`` (epoch seconds, None when absent) and the
    kinds of bad input found in it (each ignored)."""

    users: Mapping[int, UserEntry]
    lock_state: LockState | None
    action: Action | None
    last_seen: float | None
    bad_keys: int = 0
    bad_entries: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"DeviceMessage(users=<{len(self.users)}>, lock_state={self.lock_state}, "
            f"action={self.action!r}, last_seen={self.last_seen})"
        )


def _loads(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("not JSON") from None


def parse_device_message(payload: bytes) -> DeviceMessage:
    """Parse a message of ``<base>/<name>``; PayloadError if it is not a JSON object.

    Unknown fields are ignored; a field of the wrong shape is reported in ``bad_entries`` and
    ignored; a ``users`` key that is not a user id is counted in ``bad_keys`` and skipped."""
    obj = _loads(payload)
    if not isinstance(obj, dict):
        raise PayloadError("not a JSON object")
    bad: list[str] = []
    users: dict[int, UserEntry] = {}
    bad_keys = 0
    raw_users = obj.get("users")
    if isinstance(raw_users, dict):
        for key, value in raw_users.items():
            if not (key.isascii() and key.isdigit() and int(key) <= _MAX_USER):
                bad_keys += 1
                continue
            entry = _user_entry(value)
            if entry is None:
                bad.append("users entry")
            else:
                users[int(key)] = entry
    elif raw_users is not None:
        bad.append("users")
    return DeviceMessage(
        users=users,
        lock_state=_lock_state(obj, bad),
        action=parse_action(obj, bad),
        last_seen=_last_seen(obj.get("last_seen"), bad),
        bad_keys=bad_keys,
        bad_entries=tuple(bad),
    )


def _user_entry(value: object) -> UserEntry | None:
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        return None
    code = value.get("pin_code")
    if code is None or isinstance(code, str):
        return UserEntry(value["status"], code)
    if isinstance(code, dict):  # a Buffer serialised byte by byte (converters before v26.50)
        return UserEntry(value["status"], _decode_bytes(code))
    if isinstance(code, int) and not isinstance(code, bool):
        return UserEntry(value["status"], str(code))
    return UserEntry(value["status"], "?")


def _decode_bytes(code: dict[str, object]) -> str:
    try:
        ordered = sorted(code.items(), key=lambda item: int(item[0]))
    except ValueError:
        return "?"
    data = [v for _, v in ordered]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 128 for v in data):
        return "?"
    return "".join(chr(v) for v in data)  # type: ignore[arg-type]


_LOCK_STATES = {
    "locked": LockState.LOCKED,
    "unlocked": LockState.UNLOCKED,
    "not_fully_locked": LockState.NOT_FULLY_LOCKED,
}


def _lock_state(obj: dict[str, Any], bad: list[str]) -> LockState | None:
    # ``lock_state`` first: ``state`` says UNLOCK for a jammed bolt too.
    value = obj.get("lock_state")
    if isinstance(value, str) and value in _LOCK_STATES:
        return _LOCK_STATES[value]
    if value is not None:
        bad.append("lock_state")
    state = obj.get("state")
    if state == "LOCK":
        return LockState.LOCKED
    if state == "UNLOCK":
        return LockState.UNLOCKED
    if state is not None:
        bad.append("state")
    return None


def _last_seen(value: object, bad: list[str]) -> float | None:
    """``last_seen`` as epoch seconds: ISO 8601 (UTC ``Z`` or an offset) or epoch ms."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / 1000.0
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
    bad.append("last_seen")
    return None


def parse_availability(payload: bytes) -> Availability:
    """Parse ``<base>/<name>/availability`` or ``<base>/bridge/state``: JSON
    ``{"state": ...}`` (2.x) or the plain string (1.x legacy). An empty payload (a retained
    flag cleared) is UNKNOWN; PayloadError for anything else."""
    text = payload.strip()
    if not text:
        return Availability.UNKNOWN
    if text in (b"online", b"offline"):
        return Availability(text.decode())
    obj = _loads(text)
    state = obj.get("state") if isinstance(obj, dict) else obj
    if state in ("online", "offline"):
        return Availability(state)
    raise PayloadError("not an availability payload")


@final
@attrs.frozen
class PublishFailure:
    """Zigbee2MQTT reported that a ``set``/``get`` to this device failed (``bridge/logging``,
    level error). ``user`` is the user id of the ZCL command when the message names one;
    ``unreachable``: the command never reached the lock (delivery failed, no route);
    ``refused``: Zigbee2MQTT or the lock said no to the command itself — the user id is out of
    the lock's range (``must be in range for device``) or the lock answered a ZCL error status
    — so repeating it will not help (a timeout is neither)."""

    operation: str
    attribute: str
    user: int | None
    unreachable: bool
    refused: bool = False


_FAILED = re.compile(r"Publish '(set|get)' '([^']*)' to '(.*?)' failed: ")
_USERID = re.compile(r'"userid"\s*:\s*(\d+)')
_UNREACHABLE = ("Delivery failed", "No network route", "MAC_NO_ACK", "NWK_NO_ROUTE")
_REFUSED = re.compile(r"must be in range|Status '(?!TIMEOUT)[A-Z_]+'")


def parse_bridge_log(payload: bytes, friendly_name: str) -> PublishFailure | None:
    """A ``bridge/logging`` message that reports a failed publish to ``friendly_name``, else
    None (any other message, including ones we cannot parse: this topic carries every log
    line). The message text holds the PIN of a failed set: it is matched, never kept."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or obj.get("level") != "error":
        return None
    message = obj.get("message")
    if not isinstance(message, str):
        return None
    match = _FAILED.match(message)
    if match is None or match.group(3) != friendly_name:
        return None
    user = _USERID.search(message)
    unreachable = any(word in message for word in _UNREACHABLE)
    return PublishFailure(
        operation=match.group(1),
        attribute=match.group(2),
        user=int(user.group(1)) if user else None,
        unreachable=unreachable,
        refused=not unreachable and _REFUSED.search(message) is not None,
    )


# -- what an entry means ---------------------------------------------------------------------


def project(entry: UserEntry, *, expose_pin: bool | None = None) -> SlotCredential | None:
    """What a ``users`` entry says the slot holds; None when it says nothing.

    * ``available`` -> empty (the only status that means empty).
    * ``enabled`` -> known(pin) when ``pin_code`` is a valid PIN; otherwise unreadable: no
      ``pin_code`` (``expose_pin`` off), ``""``, masked (``****``), undecodable — and an
      explicit ``null``, which SPEC calls empty but no converter produces (research notes §3):
      a code we cannot see may still open the door. ``expose_pin=False`` ignores ``pin_code``
      entirely (after the device option is switched off, Zigbee2MQTT's deep-merged cache keeps
      the last code it saw forever).
    * ``disabled`` (stored, refused at the door) and unknown statuses -> unreadable, never
      empty.
    * ``not_supported_255`` and other ``not_supported_<n>`` -> None: the lock declined to
      answer (silence, not data).
    """
    status = entry.status
    if status == "available":
        return SlotCredential.empty()
    if status.startswith("not_supported"):
        return None
    if status != "enabled" or expose_pin is False or not entry.pin_code:
        return SlotCredential.unreadable()
    try:
        return SlotCredential.known(Pin(entry.pin_code))
    except InvalidPinError:
        return SlotCredential.unreadable()
