"""Where a grant stands on one lock (:class:`AccessState`), the moves it may make, and the
records a plan reports: :class:`AccessChange` (one move) and :class:`GrantOnLock` (the whole
picture of one grant on one lock, with the credential engine's own state of its slot)."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import NamedTuple, final

import attrs

from ..credentials import SyncState
from ._windows import Phase

__all__ = ["MOVES", "TERMINAL", "AccessChange", "AccessState", "GrantOnLock", "from_phase"]


class AccessState(enum.Enum):
    """A grant on one lock. Only ACTIVE puts its code on the lock; every other state keeps the
    grant's slot empty (or gives the slot back, in the three final states)."""

    #: no slot yet: the lock has not been read, or it is unreachable; allocated when it answers
    WAITING = "waiting"
    #: every candidate slot of the lock is held (by grants or by codes the plan does not manage)
    NO_SLOT = "no_slot"
    #: before ``starts``
    SCHEDULED = "scheduled"
    #: its code belongs on the lock now
    ACTIVE = "active"
    #: between ``starts`` and ``ends``, outside the weekly hours
    OFF_HOURS = "off_hours"
    #: ``ends`` has passed (final)
    EXPIRED = "expired"
    #: its ``uses`` on this lock are spent (final)
    USED_UP = "used_up"
    #: revoked (final)
    REVOKED = "revoked"


#: the final states: the slot is given back; only a new grant of the same name leaves them
TERMINAL = frozenset({AccessState.EXPIRED, AccessState.USED_UP, AccessState.REVOKED})

_TIMED = frozenset({AccessState.SCHEDULED, AccessState.ACTIVE, AccessState.OFF_HOURS})
_SLOTLESS = frozenset({AccessState.WAITING, AccessState.NO_SLOT})

#: the transition table of a grant on a lock (a state missing from it is final)
MOVES: dict[AccessState, frozenset[AccessState]] = {
    AccessState.WAITING: _TIMED | {AccessState.NO_SLOT} | TERMINAL,
    AccessState.NO_SLOT: _TIMED | {AccessState.WAITING} | TERMINAL,
    AccessState.SCHEDULED: (_TIMED | TERMINAL) - {AccessState.SCHEDULED},
    AccessState.ACTIVE: (_TIMED | TERMINAL) - {AccessState.ACTIVE},
    AccessState.OFF_HOURS: (_TIMED | TERMINAL) - {AccessState.OFF_HOURS},
}
for _state in _SLOTLESS:
    MOVES[_state] = MOVES[_state] - {_state}

_BY_PHASE = {
    Phase.BEFORE: AccessState.SCHEDULED,
    Phase.OPEN: AccessState.ACTIVE,
    Phase.BETWEEN: AccessState.OFF_HOURS,
    Phase.AFTER: AccessState.EXPIRED,
}


def from_phase(phase: Phase) -> AccessState:
    """The state a grant with a slot has in ``phase`` of its validity."""
    return _BY_PHASE[phase]


@final
class AccessChange(NamedTuple):
    """A grant moved on a lock: ``for grant, lock, state, reason in plan.changes()``."""

    grant: str
    lock: str
    state: AccessState
    reason: str


@final
@attrs.frozen
class GrantOnLock:
    """One grant on one lock, as :meth:`AccessPlan.detail` reports it (never a PIN).

    ``state`` is the plan's (:class:`AccessState`); ``sync`` and ``sync_reason`` are the
    credential engine's for the grant's slot — is the code on the lock yet, and if not, why —
    and ``retry_at`` when the engine tries next (trio time; ``math.inf``: not scheduled).
    ``slot`` is None while the grant holds none (WAITING, NO_SLOT, and the final states);
    ``sync`` is None then too. ``uses_left`` is None for unlimited uses; ``next_edge`` is
    the next instant the grant's window opens or closes (None: never again).
    """

    grant: str
    lock: str
    state: AccessState
    reason: str
    slot: int | None
    sync: SyncState | None
    sync_reason: str
    retry_at: float
    uses_left: int | None
    next_edge: datetime.datetime | None


@final
@attrs.frozen
class AccessPlanStatistics:
    """A snapshot of a plan's counters (see :meth:`AccessPlan.statistics`)."""

    #: grants in the plan (any state)
    grants: int
    #: (grant, lock) pairs per :class:`AccessState`
    states: Mapping[AccessState, int]
    #: window edges applied (a grant's window opened or closed)
    edges: int
    #: keypad unlocks counted against a grant's uses
    uses_counted: int
    #: keypad unlocks on a lock with use-limited grants that named no slot (not countable)
    uncounted_unlocks: int
    #: desired codes handed to the engines (each one a set_desired or take)
    desires: int
    #: surveys made to find free slots, and the slots they read
    surveys: int
    slots_read: int
    #: writes of the plan's file
    saves: int
