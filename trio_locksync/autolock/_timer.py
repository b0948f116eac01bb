"""One autolock timer on trio: the thin layer around a :class:`~._driver.TimerDriver`.

The driver decides what state follows, what is armed and what is written. The timer owns what
needs trio: its call on the service's :class:`~trio_locksync.core.DeadlineScheduler`, awaiting the
store, running the action, waiting out an in-flight fire, and the iterators over its state.
Everything it needs from the service comes through the shared :class:`~._context.AutolockContext`.

The action is looked up by timer id when it fires (``action(timer_id)``), never captured as an
object, so an application that reloads a lock cannot make a timer act on the orphan.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import final

import trio

from ..core import ChangeFeed, NoPublicConstructor, ScheduledCall, Watched
from ..store import StoreClosedError, StoreWriteError
from ._context import AutolockContext, ServiceState
from ._driver import Storage, TimerDriver
from ._errors import (
    AutolockClosedError,
    AutolockNotRecoveredError,
    AutolockPersistError,
    AutolockTargetGone,
)
from ._machine import ActionOutcome, Persist, TimerState

__all__ = ["AutolockTimer"]

logger = logging.getLogger("trio_locksync.autolock")


@final
class AutolockTimer(metaclass=NoPublicConstructor):
    """One autolock timer; get it with :meth:`AutolockService.timer` (one object per id).

    The fire runs in the service's nursery; ``start`` and ``cancel`` wait for an in-flight
    action before they change anything. Every change of state and of the stored entry is made
    synchronously, in the order the calls were made, so calls need no lock: the last one wins,
    on disk as in memory.
    """

    _OPENED_BY = "AutolockService.timer()"

    __slots__ = ("_context", "_driver", "_io", "_retry")

    def __init__(self, context: AutolockContext, timer_id: str) -> None:
        self._context = context
        self._io = _TimerIO(context, timer_id, self._fire)
        self._driver = TimerDriver(timer_id, self._io)
        # Made on the first failed action only: an OS-seeded RNG per timer would cost ~3 KB each.
        self._retry: Iterator[float] | None = None

    # -- public ------------------------------------------------------------------------------

    @property
    def timer_id(self) -> str:
        """The id the action is called with."""
        return self._driver.timer_id

    @property
    def state(self) -> TimerState:
        """Where the timer is now."""
        return self._driver.state

    @property
    def end_time(self) -> datetime.datetime | None:
        """When the timer fires (aware UTC), while ACTIVE or FIRING; else None."""
        entry = self._driver.entry
        return entry.end_time if entry is not None else None

    @property
    def remaining(self) -> float | None:
        """Seconds until it fires (0 while firing or retrying a failed action); None if idle."""
        entry = self._driver.entry
        return entry.remaining(self._context.now()) if entry is not None else None

    @property
    def is_running(self) -> bool:
        """ACTIVE or FIRING."""
        return self._driver.state in (TimerState.ACTIVE, TimerState.FIRING)

    def changes(self) -> AsyncIterator[TimerState]:
        """Every change of state, in order, from now on (not the current state: read ``state``).

        Each iterator keeps its own backlog: a reader that falls more than 10,000 changes behind
        loses the oldest (counted in its ``dropped``). It ends after ``DETACHED``, when the
        service closes. For only the latest state, use :meth:`values`.
        """
        return self._io.subscribe(self._driver.state)

    def values(self) -> AsyncIterator[TimerState]:
        """The state after each change: the *latest* one if several happened meanwhile.

        Never ends by itself (stop iterating, or cancel the task). For every change, in order,
        use :meth:`changes`.
        """
        return self._io.latest(self._driver.state)

    async def start(self, duration: float) -> None:
        """Arm the timer for ``duration`` seconds (re-arm with the full duration if running).

        Returns once the entry is on disk, durably: a SIGKILL right after still locks the door at
        the next ``recover()``. If the write fails the timer stays armed in this process and
        :class:`AutolockPersistError` says so (the store keeps retrying). Waits for an in-flight
        action first. Raises :class:`AutolockNotRecoveredError` before ``recover()``,
        :class:`InvalidDurationError` for a bad duration.
        """
        seconds = self._context.check_duration(duration)
        await self._ready()
        await self._settle()
        self._context.check_open()
        self._retry = None
        storage = self._driver.start(seconds, self._context.now(), trio.current_time())
        await self._persist(storage, armed=True, what="the start")

    async def cancel(self) -> None:
        """Stop the timer and remove its entry; waits for an in-flight action. Idempotent.

        After it returns the action does not run (in this process; the removal is durable, so
        not after a restart either). A fire that fell due but has not started yet is prevented
        before this yields to any other task (keymaster #671): cancel wins that race.
        """
        await self._ready()
        await self._settle()
        self._context.check_open()
        storage = self._driver.cancel()
        await self._persist(storage, armed=False, what="the cancel")

    def __repr__(self) -> str:
        return f"<AutolockTimer {self.timer_id!r} {self.state.value} end_time={self.end_time}>"

    # -- used by the service -----------------------------------------------------------------

    @property
    def _call(self) -> ScheduledCall | None:
        """The armed (or running) fire, if any."""
        return self._io.call

    def _recover(self, now: datetime.datetime, base: float) -> bool:
        """Adopt the persisted entry; True if it had expired (it fires at once). ``now`` (wall)
        and ``base`` (trio) were read together, so every timer's deadline keeps its end time
        however long recovery takes."""
        entry = self._context.timer_store.get(self.timer_id)
        return self._driver.recover(entry, now, base)

    def _detach(self) -> None:
        self._driver.detach()

    # -- internals ---------------------------------------------------------------------------

    async def _ready(self) -> None:
        context = self._context
        if context.state is ServiceState.NOT_RECOVERED:
            raise AutolockNotRecoveredError(
                f"timer {self.timer_id!r}: call recover() on the service first; nothing changed"
            )
        context.check_open()
        while self._driver.state is TimerState.FRESH:
            # Only while recover() runs: no checkpoint otherwise, so a cancel decides at once.
            await context.wait_recovered()
            context.check_open()

    async def _settle(self) -> None:
        """Prevent a pending fire, or wait for a running one (and drop the retry it may arm)."""
        while (call := self._io.call) is not None and not call.finished:
            if not call.cancel():
                await call.wait_done()

    async def _persist(self, storage: list[Storage], *, armed: bool, what: str) -> None:
        """Write the driver's storage effects through and wait until they are durable."""
        store = self._context.timer_store
        if not storage:
            await trio.lowlevel.checkpoint()
        try:
            for effect in storage:
                if isinstance(effect, Persist):
                    await store.write(self.timer_id, effect.entry)
                else:
                    await store.remove(self.timer_id)
        except StoreWriteError as exc:
            raise AutolockPersistError(self.timer_id, armed=armed, what=what) from exc
        except StoreClosedError as exc:
            raise AutolockClosedError(f"timer {self.timer_id!r}: service closed") from exc

    async def _fire(self) -> None:
        """The scheduled call: run the action, then record the outcome. Never raises on a
        failing action; storage after the fire never blocks it (fire first, then remove)."""
        self._driver.due()
        context = self._context
        context.fires += 1
        outcome = ActionOutcome.INTERRUPTED
        try:
            await context.action(self.timer_id)
            outcome = ActionOutcome.OK
        except AutolockTargetGone:
            outcome = ActionOutcome.TARGET_GONE
            context.targets_gone += 1
            logger.info("autolock %r: target gone; timer ended", self.timer_id)
        except Exception:
            outcome = ActionOutcome.FAILED
            context.action_failures += 1
            logger.exception("autolock %r: action failed; entry kept for replay", self.timer_id)
        finally:
            delay = 0.0
            if outcome is ActionOutcome.FAILED:
                if self._retry is None:
                    self._retry = context.backoff.delays()
                delay = next(self._retry)
            else:
                self._retry = None
            self._driver.finish(outcome, delay, trio.current_time())


class _TimerIO:
    """The real :class:`~._driver.TimerIO` of one timer: its call on the service's scheduler,
    its entry in the timer store, and the feeds behind ``changes()`` and ``values()``."""

    __slots__ = ("_context", "_feed", "_fire", "_timer_id", "_watched", "call")

    def __init__(
        self, context: AutolockContext, timer_id: str, fire: Callable[[], Awaitable[None]]
    ) -> None:
        self._context = context
        self._timer_id = timer_id
        self._fire = fire
        self.call: ScheduledCall | None = None
        # Each made on the first changes() / values(): most timers are never watched, and a
        # change made before anyone watched reaches nobody anyway.
        self._feed: ChangeFeed[TimerState] | None = None
        self._watched: Watched[TimerState] | None = None

    def arm(self, deadline: float) -> None:
        self.disarm()
        scheduler = self._context.scheduler
        if scheduler.closed:
            # The service is closing (a retry after a failure during the close grace): the
            # entry stays on disk and the next recover() replays it.
            return
        self.call = scheduler.call_at(deadline, self._fire)

    def disarm(self) -> None:
        if self.call is not None:
            self.call.cancel()
            self.call = None

    def remove_soon(self) -> None:
        self._context.timer_store.remove_soon(self._timer_id)

    def state_changed(self, state: TimerState) -> None:
        if self._watched is not None:
            self._watched.set(state)
        if self._feed is not None:
            self._feed.publish(state)
            if state is TimerState.DETACHED:
                self._feed.end()

    def subscribe(self, state: TimerState) -> AsyncIterator[TimerState]:
        """A new iterator of every change from now on; ``state`` is the timer's current one."""
        if self._feed is None:
            self._feed = ChangeFeed()
            if state is TimerState.DETACHED:
                self._feed.end()
        return self._feed.subscribe()

    def latest(self, state: TimerState) -> AsyncIterator[TimerState]:
        """A new latest-value iterator; ``state`` is the timer's current one."""
        if self._watched is None:
            self._watched = Watched(state)
        return self._watched.values()
