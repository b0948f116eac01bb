"""What the timers of one autolock service share, in one internal object.

``open_autolock`` makes one :class:`AutolockContext` and hands it to the service and to every
timer the service makes: the timer store, the deadline scheduler, the action, the wall clock, the
duration limit, the retry backoff, the service's lifecycle and its counters. A timer reads and
counts through it instead of reaching into the service's private members, and the service keeps
only what is its own (the registry of timers and recovery).
"""

from __future__ import annotations

import datetime
import enum
import math
from collections.abc import Awaitable, Callable
from typing import final

import trio

from ..core import Backoff, DeadlineScheduler, StateTable
from ._errors import AutolockClosedError, InvalidDurationError
from ._timer_store import TimerStore

__all__ = ["Action", "AutolockContext", "Clock", "ServiceState"]

#: ``await action(timer_id)``: lock the door the id names *now*; raise AutolockTargetGone if none
Action = Callable[[str], Awaitable[object]]
Clock = Callable[[], datetime.datetime]


class ServiceState(enum.Enum):
    """Lifecycle of an autolock service."""

    NOT_RECOVERED = "not_recovered"
    RECOVERING = "recovering"
    READY = "ready"
    CLOSED = "closed"


_SERVICE_TABLE = {
    ServiceState.NOT_RECOVERED: frozenset({ServiceState.RECOVERING, ServiceState.CLOSED}),
    ServiceState.RECOVERING: frozenset({ServiceState.READY, ServiceState.CLOSED}),
    ServiceState.READY: frozenset({ServiceState.CLOSED}),
}


@final
class AutolockContext:
    """The shared state of one service and its timers. Internal: made by ``open_autolock``."""

    __slots__ = (
        "_clock",
        "_lifecycle",
        "_max_duration",
        "_recovery_done",
        "action",
        "action_failures",
        "backoff",
        "fires",
        "path",
        "scheduler",
        "targets_gone",
        "timer_store",
    )

    def __init__(
        self,
        *,
        timer_store: TimerStore,
        scheduler: DeadlineScheduler,
        action: Action,
        now: Clock,
        max_duration: float,
        backoff: Backoff,
        path: str,
    ) -> None:
        #: every timer's entry, in the service's one store file
        self.timer_store: TimerStore = timer_store
        #: where the timers' fires are scheduled (one task in the service's nursery)
        self.scheduler: DeadlineScheduler = scheduler
        #: what a fire runs: ``await action(timer_id)``
        self.action: Action = action
        #: the delays between retries of a failed action
        self.backoff: Backoff = backoff
        #: the store file, for messages
        self.path: str = path
        #: counters for :meth:`AutolockService.statistics`, kept by the timers
        self.fires: int = 0
        self.action_failures: int = 0
        self.targets_gone: int = 0
        self._clock = now
        self._max_duration = max_duration
        self._lifecycle = StateTable("AutolockService", ServiceState.NOT_RECOVERED, _SERVICE_TABLE)
        self._recovery_done = trio.Event()

    @property
    def state(self) -> ServiceState:
        """The service's lifecycle state."""
        return self._lifecycle.current

    def advance(self, state: ServiceState) -> None:
        """Move the lifecycle to ``state``; READY and CLOSED wake the timers waiting for
        recovery (after CLOSED they find the service closed)."""
        self._lifecycle.advance(state)
        if state in (ServiceState.READY, ServiceState.CLOSED):
            self._recovery_done.set()

    async def wait_recovered(self) -> None:
        """Wait until recovery ended (the service is READY, or CLOSED)."""
        await self._recovery_done.wait()

    def now(self) -> datetime.datetime:
        """The wall clock, as aware UTC; TypeError if the injected clock returns anything else."""
        now = self._clock()
        if not isinstance(now, datetime.datetime) or now.utcoffset() is None:
            raise TypeError("the now() clock must return an aware datetime")
        return now.astimezone(datetime.UTC)

    def check_open(self) -> None:
        """Raise :class:`AutolockClosedError` once the service is closed."""
        if self.state is ServiceState.CLOSED:
            raise AutolockClosedError(f"autolock service {self.path} is closed; nothing changed")

    def check_duration(self, duration: float) -> float:
        """``duration`` as a float; :class:`InvalidDurationError` unless within (0, max]."""
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise InvalidDurationError(f"duration must be a number of seconds, not {duration!r}")
        if not (math.isfinite(duration) and 0 < duration <= self._max_duration):
            raise InvalidDurationError(
                f"duration must be within (0, {self._max_duration:g}] seconds, got {duration!r}"
            )
        return float(duration)
