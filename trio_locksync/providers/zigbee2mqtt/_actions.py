"""Zigbee2MQTT's ``action`` vocabulary for locks, sans-I/O: which actions are lock events, from
which source, crediting which user; which are programming events.

* ``fz.lock_operation_event``: ``lock``, ``unlock``, ``lock_failure_invalid_pin_or_id``,
  ``unlock_failure_invalid_pin_or_id``, ``..._invalid_schedule``, ``one_touch_lock``,
  ``key_lock``/``key_unlock``, ``auto_lock``, ``schedule_lock``/``schedule_unlock``,
  ``manual_lock``/``manual_unlock``, ``unknown``, ``non_access_user_operational_event``, with
  ``action_source`` (0 keypad, 1 rf, 2 manual, 3 rfid, 4 fingerprint), its
  ``action_source_name`` and ``action_user`` (65535: none). The generic keypad unlock is
  ``action: "unlock"`` + ``action_source_name: "keypad"``.
* Device-specific converters name the source in the action: ``keypad_unlock``, ``rf_unlock``,
  ``rfid_unlock``, ``zigbee_unlock`` (easyaccess, Onesti, some Yale). SPEC lists only these;
  both forms are accepted. The action's own prefix wins over ``action_source_name``.
* ``fz.lock_programming_event``: ``pin_code_added``, ``pin_code_deleted``,
  ``pin_code_changed``, ``master_code_changed``, ``rfid_code_added``, ``rfid_code_deleted``.
* ``action: null`` (filled in by Home Assistant's integration) and ``""`` are no event.
"""

from __future__ import annotations

from typing import Any, final

import attrs

from ._models import BadInput, EventSource, LockAction

__all__ = ["NO_USER", "Action", "parse_action"]

#: ``action_user`` when the lock credits no user
NO_USER = 65535


@final
@attrs.frozen
class Action:
    """A parsed ``action``: a lock event (``kind`` set) or a programming event
    (``programming`` set: ``pin_code_added``, ``pin_code_deleted``, ...)."""

    name: str
    kind: LockAction | None
    source: EventSource
    slot: int | None
    programming: str | None = None


_SOURCE_NAMES = {
    "keypad": EventSource.KEYPAD,
    "rf": EventSource.RF,
    "manual": EventSource.MANUAL,
    "rfid": EventSource.RFID,
    "fingerprint": EventSource.FINGERPRINT,
}
_SOURCE_CODES = {0: EventSource.KEYPAD, 1: EventSource.RF, 2: EventSource.MANUAL}
_SOURCE_CODES |= {3: EventSource.RFID, 4: EventSource.FINGERPRINT}
#: the source named by a device-specific action's prefix (``keypad_unlock``, ``zigbee_unlock``)
_PREFIXES = _SOURCE_NAMES | {
    "zigbee": EventSource.RF,
    "remote": EventSource.RF,
    "key": EventSource.KEY,
    "auto": EventSource.AUTO,
    "schedule": EventSource.SCHEDULE,
    "one_touch": EventSource.ONE_TOUCH,
}
_PROGRAMMING = frozenset(
    {
        "pin_code_added",
        "pin_code_deleted",
        "pin_code_changed",
        "master_code_changed",
        "rfid_code_added",
        "rfid_code_deleted",
    }
)


def parse_action(obj: dict[str, Any], bad: list[BadInput]) -> Action | None:
    """The action of a device message (``obj``), or None; a malformed ``action`` or
    ``action_user`` is noted in ``bad`` (the action is then taken as crediting no user)."""
    name = obj.get("action")
    if name is None or name == "":
        return None  # no event (Home Assistant fills absent fields with null)
    if not isinstance(name, str):
        bad.append(BadInput.ACTION)
        return None
    slot = _slot(obj.get("action_user"), bad)
    source = _source(obj)
    if name in _PROGRAMMING:
        return Action(name, None, source, slot, programming=name)
    kind: LockAction | None = None
    if name in ("lock", "unlock"):
        kind = LockAction.LOCK if name == "lock" else LockAction.UNLOCK
    elif name.startswith(("lock_failure", "unlock_failure")):
        kind = LockAction.UNLOCK_FAILURE if name[0] == "u" else LockAction.LOCK_FAILURE
    else:
        prefix, _, verb = name.rpartition("_")
        if verb in ("lock", "unlock") and prefix:
            kind = LockAction.LOCK if verb == "lock" else LockAction.UNLOCK
            source = _PREFIXES.get(prefix, source)
    if kind is None:
        return None  # "unknown", "non_access_user_operational_event", ...: not a lock event
    return Action(name, kind, source, slot)


def _source(obj: dict[str, Any]) -> EventSource:
    name = obj.get("action_source_name")
    if isinstance(name, str) and name in _SOURCE_NAMES:
        return _SOURCE_NAMES[name]
    code = obj.get("action_source")
    if isinstance(code, int) and not isinstance(code, bool):
        return _SOURCE_CODES.get(code, EventSource.UNKNOWN)
    return EventSource.UNKNOWN


def _slot(value: object, bad: list[BadInput]) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= NO_USER:
        return value if value != NO_USER else None
    if value is not None:
        bad.append(BadInput.ACTION_USER)
    return None
