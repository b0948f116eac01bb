"""The one interpreter of a timer's effects, sans-I/O: :class:`TimerDriver`.

A :class:`~._machine.TimerMachine` decides; it returns effects and carries out none. The driver
feeds one machine its inputs and carries the effects out on a :class:`TimerIO`:

* ``Arm(delay)`` becomes ``io.arm(at + delay)``: a deadline on the caller's clock (``at`` is the
  reading the machine's delays count from), replacing any earlier arm;
* ``Disarm`` becomes ``io.disarm()``;
* the ``Remove`` that follows a fire becomes ``io.remove_soon()``: storage never holds up a fire;
* each change of state is reported, in order, to ``io.state_changed()``.

The storage effects of :meth:`TimerDriver.start` and :meth:`TimerDriver.cancel` (``Persist`` /
``Remove``) are returned instead: the caller writes them through and waits until they are
durable — the only I/O left to it — after the driver has already moved, so calls made in order
take effect in order.

:class:`~._timer.AutolockTimer` drives it with trio's clock, a
:class:`~trio_locksync.core.DeadlineScheduler` and the real timer store; the Hypothesis harness
(``tests/test_autolock_machine.py``) with a fake clock, a fake scheduler and a fake store.
"""

from __future__ import annotations

import datetime
from typing import Protocol, final

from ._entry import TimerEntry
from ._machine import ActionOutcome, Arm, Disarm, Effect, Persist, Remove, TimerMachine, TimerState

__all__ = ["Storage", "TimerDriver", "TimerIO"]

#: a storage effect the caller writes through and waits for
Storage = Persist | Remove


class TimerIO(Protocol):
    """Where a :class:`TimerDriver` carries out the effects of one timer. No call may block."""

    def arm(self, deadline: float) -> None:
        """Call :meth:`TimerDriver.due` at ``deadline`` (replacing an earlier arm, if any)."""

    def disarm(self) -> None:
        """Drop the armed call, if any."""

    def remove_soon(self) -> None:
        """Remove the timer's stored entry without waiting; the write lands later."""

    def state_changed(self, state: TimerState) -> None:
        """The timer is now in ``state`` (called once per change, in order)."""


@final
class TimerDriver:
    """One timer's machine and the interpreter of its effects. No I/O, no trio; not
    thread-safe. A forbidden input raises :class:`~trio_locksync.core.InvalidTransition` and
    carries nothing out."""

    __slots__ = ("_io", "machine")

    def __init__(self, timer_id: str, io: TimerIO) -> None:
        #: the state machine; read it freely, feed it only through the driver
        self.machine: TimerMachine = TimerMachine(timer_id)
        self._io = io

    @property
    def timer_id(self) -> str:
        """The id of the timer."""
        return self.machine.timer_id

    @property
    def state(self) -> TimerState:
        """The machine's state."""
        return self.machine.state

    @property
    def entry(self) -> TimerEntry | None:
        """The armed entry while ACTIVE or FIRING, else None."""
        return self.machine.entry

    def recover(self, entry: TimerEntry | None, now: datetime.datetime, at: float) -> bool:
        """Adopt the persisted ``entry`` (None: there is none), read at wall time ``now``, which
        is ``at`` on the scheduling clock. True if it expired while the process was down: it is
        armed to fire at ``at``."""
        before = self.machine.state
        self._carry_out(before, self.machine.recover(entry, now), at)
        return entry is not None and entry.remaining(now) == 0.0

    def start(self, duration: float, now: datetime.datetime, at: float) -> list[Storage]:
        """Arm for ``duration`` seconds from wall time ``now`` (``at`` on the scheduling clock).
        Returns the write the caller must make durable (the new entry)."""
        before = self.machine.state
        return self._carry_out(before, self.machine.start(duration, now), at)

    def cancel(self) -> list[Storage]:
        """Stop the timer. Returns the removal the caller must make durable (also in DONE: a
        fire's remove-soon may not have landed yet). A FIRING timer must be waited out first."""
        before = self.machine.state
        return self._carry_out(before, self.machine.cancel(), None)

    def due(self) -> None:
        """The armed deadline came: FIRING; the caller runs the action next."""
        before = self.machine.state
        self._carry_out(before, self.machine.due(), None)

    def finish(self, outcome: ActionOutcome, retry_delay: float, at: float) -> None:
        """The action ended with ``outcome`` at ``at`` (scheduling clock). A failed action is
        armed again ``retry_delay`` seconds later, its entry kept for replay; a finished one has
        its entry removed soon."""
        before = self.machine.state
        storage = self._carry_out(before, self.machine.action_finished(outcome, retry_delay), at)
        for effect in storage:
            if isinstance(effect, Remove):
                self._io.remove_soon()

    def detach(self) -> None:
        """The service is closing: stop scheduling; the stored entry stays. Idempotent."""
        before = self.machine.state
        if before is not TimerState.DETACHED:
            self._carry_out(before, self.machine.detach(), None)

    def _carry_out(
        self, before: TimerState, effects: list[Effect], at: float | None
    ) -> list[Storage]:
        """Carry out the scheduling effects now; return the storage ones. ``at`` is the clock
        reading an ``Arm`` counts from (None where the machine never arms)."""
        storage: list[Storage] = []
        for effect in effects:
            if isinstance(effect, Arm):
                if at is None:
                    raise RuntimeError(f"timer {self.timer_id!r}: {effect!r} without a clock")
                self._io.arm(at + effect.delay)
            elif isinstance(effect, Disarm):
                self._io.disarm()
            else:
                storage.append(effect)
        state = self.machine.state
        if state is not before:
            self._io.state_changed(state)
        return storage

    def __repr__(self) -> str:
        return f"<TimerDriver {self.timer_id!r} {self.state.value}>"
