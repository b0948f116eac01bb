"""Lock events, the same from every provider: the lock was locked or unlocked (or refused to
be), from which source, crediting which slot. A provider that reports them offers
``events()`` (:class:`LockEventProvider`); :class:`~trio_locksync.testing.VirtualLock` does,
and so does every real provider. None of them carries a PIN."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Protocol, final, runtime_checkable

import attrs

__all__ = ["EventSource", "LockAction", "LockEvent", "LockEventProvider", "LockState"]


class LockState(enum.Enum):
    """The bolt, as the lock last reported it — the same words from every provider (Zigbee2MQTT's
    ``lock_state``, Z-Wave's Door Lock ``currentMode``)."""

    LOCKED = "locked"
    UNLOCKED = "unlocked"
    #: the bolt did not fully throw (a jam). Zigbee2MQTT reports ``state: "UNLOCK"`` for it too;
    #: only ``lock_state: "not_fully_locked"`` tells it apart; Z-Wave says "jammed"
    NOT_FULLY_LOCKED = "not_fully_locked"
    #: nothing reported yet
    UNKNOWN = "unknown"


class LockAction(enum.Enum):
    """What a lock event says happened."""

    LOCK = "lock"
    UNLOCK = "unlock"
    #: a lock attempt refused (``lock_failure_invalid_pin_or_id``, ``..._invalid_schedule``)
    LOCK_FAILURE = "lock_failure"
    #: an unlock attempt refused (a wrong PIN at the keypad, a code outside its schedule)
    UNLOCK_FAILURE = "unlock_failure"


class EventSource(enum.Enum):
    """Where a lock event came from: ``action_source_name`` (Zigbee's operation event source
    0 keypad, 1 rf, 2 manual, 3 rfid, 4 fingerprint) or the prefix of a device-specific action
    (``keypad_unlock``, ``manual_lock``, ``auto_lock``, ``key_unlock``, ...)."""

    KEYPAD = "keypad"
    #: over the radio: a Zigbee command (ours, or another controller's)
    RF = "rf"
    #: the thumb turn
    MANUAL = "manual"
    RFID = "rfid"
    FINGERPRINT = "fingerprint"
    #: a mechanical key
    KEY = "key"
    #: the lock's own auto-relock
    AUTO = "auto"
    SCHEDULE = "schedule"
    ONE_TOUCH = "one_touch"
    UNKNOWN = "unknown"


@final
@attrs.frozen
class LockEvent:
    """The lock was locked or unlocked (or refused to be), as it reported it.

    ``slot`` is the slot (user id) the lock credits, None when it names none. ``name`` is the
    provider's own word for what happened, as received (Zigbee2MQTT's action string —
    ``"unlock"``, ``"keypad_unlock"``, ``"auto_lock"`` — a Z-Wave notification's, or
    ``VirtualLock``'s ``"keypad_unlock"``; a fixed vocabulary, never a PIN). ``at`` is the trio
    time it was received. Only live reports make events: a replay (a retained message, a
    state dump) never does.
    """

    action: LockAction
    source: EventSource
    slot: int | None
    name: str
    at: float


@runtime_checkable
class LockEventProvider(Protocol):
    """A lock that reports its lock and unlock events (optional beside
    :class:`~trio_locksync.LockProvider`: check with ``isinstance``)."""

    def events(self) -> AsyncIterator[LockEvent]:
        """Every lock event from now on (each iterator gets every event)."""
        ...
