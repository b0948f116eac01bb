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
* A failed ``set``/``get`` is only logged, on ``bridge/logging`` (``_bridgelog``), with the PIN
  of a failed set in clear. There is no other failure report, and no success report at all.
* Bad input is never an exception out of here other than :class:`PayloadError` (a message
  unusable whole), and a part of a message of a wrong shape is reported in
  ``DeviceMessage.bad_entries``; both by :class:`~._models.BadInput` kind.

Nothing here logs or formats a payload: PINs travel in them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, final

import attrs

from ...core import InvalidPinError, Pin
from ...credentials import SlotCredential
from ._actions import Action, parse_action
from ._bridgelog import MAX_USER, PublishFailure, parse_bridge_log
from ._json import MAX_PAYLOAD, PayloadError, load_json
from ._models import Availability, BadInput, LockState

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

#: the longest ``pin_code`` byte buffer decoded (Zigbee PINs have at most 8 or 10 digits)
_MAX_BUFFER = 64
#: ``last_seen`` in epoch ms up to 9999-12-31T23:59:59.999Z (what ``datetime`` can hold)
_MAX_EPOCH_MS = 253_402_300_799_999
#: an ISO 8601 ``last_seen`` longer than this is no date
_MAX_ISO = 64


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
    reports (None: none), its action, ``last_seen`` (finite epoch seconds, None when absent)
    and the bad input found in it: ``bad_keys`` users keys skipped (each a
    ``BadInput.USER_KEY``) and ``bad_entries``, the kind of each other part ignored (or, for
    ``PIN_CODE``, kept as unreadable)."""

    users: Mapping[int, UserEntry]
    lock_state: LockState | None
    action: Action | None
    last_seen: float | None
    bad_keys: int = 0
    bad_entries: tuple[BadInput, ...] = ()
    #: a digest of everything in the message but ``linkquality`` and ``last_seen``: equal
    #: digests mean Zigbee2MQTT restated one state (a republish of its cache says nothing new)
    content: int = 0

    def __repr__(self) -> str:
        return (
            f"DeviceMessage(users=<{len(self.users)}>, lock_state={self.lock_state}, "
            f"action={self.action!r}, last_seen={self.last_seen})"
        )


def parse_device_message(payload: bytes) -> DeviceMessage:
    """Parse a message of ``<base>/<name>``; PayloadError if it is not a JSON object (or not
    JSON we accept, see :func:`~._json.load_json`).

    Unknown fields are ignored; a field of the wrong shape is reported in ``bad_entries`` and
    ignored; a ``users`` key that is not a user id is counted in ``bad_keys`` and skipped."""
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise PayloadError(BadInput.NOT_OBJECT)
    bad: list[BadInput] = []
    users: dict[int, UserEntry] = {}
    bad_keys = 0
    raw_users = obj.get("users")
    if isinstance(raw_users, dict):
        for key, value in raw_users.items():
            user = _user_id(key)
            if user is None:
                bad_keys += 1
                continue
            entry = _user_entry(value, bad)
            if entry is not None:
                users[user] = entry
    elif raw_users is not None:
        bad.append(BadInput.USERS)
    return DeviceMessage(
        users=users,
        lock_state=_lock_state(obj, bad),
        action=parse_action(obj, bad),
        last_seen=_last_seen(obj.get("last_seen"), bad),
        bad_keys=bad_keys,
        bad_entries=tuple(bad),
        content=_content(obj),
    )


#: what a republish of one cached state may change: the radio's link quality (added to every
#: message, not cached: Zigbee2MQTT lib/controller.ts:437-438) and the time
_VOLATILE = frozenset({"linkquality", "last_seen"})


def _content(obj: dict[str, Any]) -> int:
    rest = {key: value for key, value in obj.items() if key not in _VOLATILE}
    try:
        return hash(json.dumps(rest, sort_keys=True))
    except (TypeError, ValueError, RecursionError):  # pragma: no cover - parsed JSON dumps
        return 0


def _user_id(key: str) -> int | None:
    # Length first: int() of over 4,300 digits raises ValueError (Python >= 3.11). Only the
    # canonical form: "03" and "3" would otherwise name one user twice.
    if not (0 < len(key) <= len(str(MAX_USER)) and key.isascii() and key.isdigit()):
        return None
    user = int(key)
    return user if user <= MAX_USER and str(user) == key else None


def _user_entry(value: object, bad: list[BadInput]) -> UserEntry | None:
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        bad.append(BadInput.USER_ENTRY)
        return None
    status: str = value["status"]
    code = value.get("pin_code")
    if code is None or isinstance(code, str):
        return UserEntry(status, code)
    decoded: str | None = None
    if isinstance(code, dict):  # a Buffer serialised byte by byte (converters before v26.50)
        decoded = _decode_bytes(code)
    elif isinstance(code, int) and not isinstance(code, bool):
        decoded = str(code)  # at most MAX_INT_DIGITS digits (load_json)
    if decoded is None:
        bad.append(BadInput.PIN_CODE)
        decoded = "?"  # kept: the slot is occupied by something we cannot read
    return UserEntry(status, decoded)


def _decode_bytes(code: dict[str, object]) -> str | None:
    """A byte buffer ``{"0": 49, "1": 50, ...}`` as ASCII; None if it is not one."""
    if len(code) > _MAX_BUFFER or set(code) != {str(i) for i in range(len(code))}:
        return None
    data = [code[str(i)] for i in range(len(code))]
    chars = []
    for byte in data:
        if not (isinstance(byte, int) and not isinstance(byte, bool) and 0 <= byte < 128):
            return None
        chars.append(chr(byte))
    return "".join(chars)


_LOCK_STATES = {
    "locked": LockState.LOCKED,
    "unlocked": LockState.UNLOCKED,
    "not_fully_locked": LockState.NOT_FULLY_LOCKED,
}


def _lock_state(obj: dict[str, Any], bad: list[BadInput]) -> LockState | None:
    # ``lock_state`` first: ``state`` says UNLOCK for a jammed bolt too.
    value = obj.get("lock_state")
    if isinstance(value, str) and value in _LOCK_STATES:
        return _LOCK_STATES[value]
    if value is not None:
        bad.append(BadInput.LOCK_STATE)
    state = obj.get("state")
    if state == "LOCK":
        return LockState.LOCKED
    if state == "UNLOCK":
        return LockState.UNLOCKED
    if state is not None:
        bad.append(BadInput.STATE)
    return None


def _last_seen(value: object, bad: list[BadInput]) -> float | None:
    """``last_seen`` as epoch seconds: ISO 8601 (UTC ``Z``, an offset, or local) or epoch ms;
    always finite (load_json refused NaN and infinities) and within ``datetime``'s years."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 0 <= value <= _MAX_EPOCH_MS:
            return float(value) / 1000.0
    elif isinstance(value, str) and len(value) <= _MAX_ISO:
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            return moment.timestamp()
        except (ValueError, OverflowError):
            pass
    bad.append(BadInput.LAST_SEEN)
    return None


def parse_availability(payload: bytes) -> Availability:
    """Parse ``<base>/<name>/availability`` or ``<base>/bridge/state``: JSON
    ``{"state": ...}`` (2.x) or the plain string (1.x legacy). An empty payload (a retained
    flag cleared) is UNKNOWN; PayloadError for anything else (NOT_AVAILABILITY, or one of
    :func:`~._json.load_json`'s kinds)."""
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(BadInput.TOO_LARGE)
    text = payload.strip()
    if not text:
        return Availability.UNKNOWN
    if text in (b"online", b"offline"):
        return Availability(text.decode())
    obj = load_json(text)
    state = obj.get("state") if isinstance(obj, dict) else obj
    if isinstance(state, str) and state in ("online", "offline"):
        return Availability(state)
    raise PayloadError(BadInput.NOT_AVAILABILITY)


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
