"""The autolock timer as a sans-I/O state machine: inputs in, effects out.

:class:`TimerMachine` knows nothing of trio, files or clocks: each method takes the facts it
needs (the wall-clock ``now``, an action's outcome, the next retry delay), changes the state along
the transition table, and returns the :data:`Effect` list the I/O layer must carry out. A method
whose transition the table forbids raises :class:`~trio_locksync.core.InvalidTransition` and
changes nothing. That makes every interleaving the upstream design tripped over a plain sequence
of calls, which the Hypothesis state machine in the tests explores.

States (``TimerState``)::

    FRESH ──recover(no entry)──▶ DONE
    FRESH ──recover(entry)─────▶ ACTIVE        (an expired entry is armed with delay 0)
    ACTIVE ──due──▶ FIRING ──ok / target gone──▶ DONE
                           └──action raised────▶ ACTIVE (entry kept, retry armed: replay)
    ACTIVE ──start──▶ ACTIVE (re-armed, full duration)      DONE ──start──▶ ACTIVE
    ACTIVE ──cancel──▶ DONE                                 DONE ──cancel──▶ DONE (Remove)
    FRESH / ACTIVE / DONE ──detach──▶ DETACHED (service closing; entries stay on disk)
"""

from __future__ import annotations

import datetime
import enum
from typing import final

import attrs

from ..core import InvalidTransition
from ._entry import TimerEntry

__all__ = [
    "ActionOutcome",
    "Arm",
    "Disarm",
    "Effect",
    "Persist",
    "Remove",
    "TimerMachine",
    "TimerState",
]


class TimerState(enum.Enum):
    """Where an autolock timer is (the contract's names)."""

    FRESH = "fresh"
    ACTIVE = "active"
    FIRING = "firing"
    DONE = "done"
    DETACHED = "detached"


_TABLE = {
    TimerState.FRESH: frozenset({TimerState.ACTIVE, TimerState.DONE, TimerState.DETACHED}),
    TimerState.ACTIVE: frozenset(
        {TimerState.ACTIVE, TimerState.FIRING, TimerState.DONE, TimerState.DETACHED}
    ),
    TimerState.FIRING: frozenset({TimerState.DONE, TimerState.ACTIVE}),
    TimerState.DONE: frozenset({TimerState.ACTIVE, TimerState.DETACHED}),
}


class ActionOutcome(enum.Enum):
    """How a fired action ended."""

    OK = "ok"
    #: the action raised AutolockTargetGone: the lock no longer exists
    TARGET_GONE = "target_gone"
    FAILED = "failed"
    #: cancelled (the service closed and its grace ran out): keep the entry, arm nothing
    INTERRUPTED = "interrupted"


@final
@attrs.frozen
class Persist:
    """Write ``entry`` for this timer durably."""

    entry: TimerEntry


@final
@attrs.frozen
class Remove:
    """Remove this timer's entry."""


@final
@attrs.frozen
class Arm:
    """Call :meth:`TimerMachine.due` after ``delay`` seconds (replacing any earlier arm)."""

    delay: float


@final
@attrs.frozen
class Disarm:
    """Drop the armed call, if any."""


Effect = Persist | Remove | Arm | Disarm


@final
class TimerMachine:
    """One timer's state and entry. Not thread-safe; no I/O."""

    __slots__ = ("_entry", "_state", "timer_id")

    def __init__(self, timer_id: str) -> None:
        self.timer_id: str = timer_id
        # The state and the one shared transition table (no StateTable object and name string
        # per timer: ~130 B each, for every touched timer).
        self._state = TimerState.FRESH
        # Present exactly while ACTIVE or FIRING (the state says which; this is the payload).
        self._entry: TimerEntry | None = None

    @property
    def state(self) -> TimerState:
        """Where the timer is (see :class:`TimerState`)."""
        return self._state

    @property
    def entry(self) -> TimerEntry | None:
        """The armed entry while ACTIVE or FIRING, else None."""
        return self._entry

    def _advance(self, new: TimerState) -> None:
        """Move along an edge of the transition table; InvalidTransition (nothing changed) if the
        table has no such edge."""
        if new not in _TABLE.get(self._state, frozenset()):
            raise InvalidTransition(f"timer {self.timer_id!r}", self._state, new)
        self._state = new

    def _require(self, operation: str, *allowed: TimerState) -> None:
        if self._state not in allowed:
            raise InvalidTransition(f"timer {self.timer_id!r}", self._state, operation)

    def recover(self, entry: TimerEntry | None, now: datetime.datetime) -> list[Effect]:
        """Adopt the persisted ``entry`` (None: there was none). Only from FRESH."""
        self._require("recover", TimerState.FRESH)
        if entry is None:
            self._advance(TimerState.DONE)
            return []
        self._advance(TimerState.ACTIVE)
        self._entry = entry
        # Expired while the process was down: remaining is 0, so it fires at once.
        return [Arm(entry.remaining(now))]

    def start(self, duration: float, now: datetime.datetime) -> list[Effect]:
        """Arm for ``duration`` seconds from ``now`` (re-arm with the full duration if ACTIVE)."""
        self._require("start", TimerState.ACTIVE, TimerState.DONE)
        entry = TimerEntry.starting(now, duration)
        self._advance(TimerState.ACTIVE)
        self._entry = entry
        return [Persist(entry), Arm(float(duration))]

    def due(self) -> list[Effect]:
        """The armed deadline passed: the caller runs the action next."""
        self._require("due", TimerState.ACTIVE)
        self._advance(TimerState.FIRING)
        return []

    def action_finished(self, outcome: ActionOutcome, retry_delay: float) -> list[Effect]:
        """The action ended with ``outcome``; ``retry_delay`` is used if it failed."""
        self._require(f"action_finished({outcome.value})", TimerState.FIRING)
        if outcome in (ActionOutcome.OK, ActionOutcome.TARGET_GONE):
            self._advance(TimerState.DONE)
            self._entry = None
            return [Remove()]
        self._advance(TimerState.ACTIVE)  # the entry stays: it is replayed
        if outcome is ActionOutcome.FAILED:
            return [Arm(retry_delay)]
        return []

    def cancel(self) -> list[Effect]:
        """Stop the timer. Idempotent in DONE; FIRING must be waited out by the caller first.

        In DONE it still asks for a Remove: a fire's removal may not be on disk yet, and a
        returned cancel() must mean the action will not run again after a restart.
        """
        self._require("cancel", TimerState.ACTIVE, TimerState.DONE)
        if self._state is TimerState.DONE:
            return [Remove()]
        self._advance(TimerState.DONE)
        self._entry = None
        return [Disarm(), Remove()]

    def detach(self) -> list[Effect]:
        """The service is closing: stop scheduling; a persisted entry stays for the next recover."""
        self._require("detach", TimerState.FRESH, TimerState.ACTIVE, TimerState.DONE)
        self._advance(TimerState.DETACHED)
        self._entry = None
        return [Disarm()]
