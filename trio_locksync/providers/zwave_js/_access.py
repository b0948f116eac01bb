"""Access Control notifications (Notification CC 113, type 6) as lock events and keypad
programming hints, sans-I/O (zwave_js.md §4, ``[py]const/command_class/notification.py:58-118``).

1/2 manual lock/unlock, 3/4 RF lock/unlock, 5/6 keypad lock/unlock (``userId`` = the slot),
9 auto-lock; 13 single user code deleted and 14 new user code added (hints to re-read the
slot); 15 new user code not added due to a duplicate (sometimes with userId 0, §4).
"""

from __future__ import annotations

from ...credentials import EventSource, LockAction, LockEvent
from ._events import Notification

__all__ = [
    "ACCESS_CONTROL",
    "CODE_ADDED",
    "CODE_DELETED",
    "DUPLICATE_CODE",
    "NOTIFICATION_CC",
    "lock_event",
]

NOTIFICATION_CC = 113
ACCESS_CONTROL = 6
CODE_DELETED = 13
CODE_ADDED = 14
DUPLICATE_CODE = 15

_EVENTS: dict[int, tuple[LockAction, EventSource, str]] = {
    1: (LockAction.LOCK, EventSource.MANUAL, "manual_lock"),
    2: (LockAction.UNLOCK, EventSource.MANUAL, "manual_unlock"),
    3: (LockAction.LOCK, EventSource.RF, "rf_lock"),
    4: (LockAction.UNLOCK, EventSource.RF, "rf_unlock"),
    5: (LockAction.LOCK, EventSource.KEYPAD, "keypad_lock"),
    6: (LockAction.UNLOCK, EventSource.KEYPAD, "keypad_unlock"),
    9: (LockAction.LOCK, EventSource.AUTO, "auto_lock"),
}


def is_access_control(note: Notification) -> bool:
    """An Access Control notification."""
    return note.cc_id == NOTIFICATION_CC and note.type == ACCESS_CONTROL


def lock_event(note: Notification, at: float) -> LockEvent | None:
    """The :class:`LockEvent` an Access Control notification makes, else None. Only keypad
    events credit a slot (``parameters.userId``; None when the lock sent none, or 0)."""
    if not is_access_control(note):
        return None
    known = _EVENTS.get(note.event)
    if known is None:
        return None
    action, source, name = known
    slot = note.user_id if source is EventSource.KEYPAD and note.user_id else None
    return LockEvent(action=action, source=source, slot=slot, name=name, at=at)
