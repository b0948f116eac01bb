"""Autolock timers on trio: the service that owns them, and the timer objects (seed 000).

Three layers with three lifetimes, kept apart as the seed's redesign asks:

* persistence — :class:`~._timer_store.TimerStore` (one durable file for every timer);
* scheduling — a :class:`~trio_locksync.core.DeadlineScheduler` in the service's nursery (a
  cancel-scope deadline, one task for all waiting timers; a due timer fires as its own task);
* orchestration — :class:`AutolockTimer`, a thin interpreter of the sans-I/O
  :class:`~._machine.TimerMachine`.

The action is looked up by timer id when it fires (``action(timer_id)``), never captured as an
object, so an application that reloads a lock cannot make a timer act on the orphan.
"""

from __future__ import annotations

import datetime
import enum
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType

import attrs
import trio

from ..core import (
    Backoff,
    DeadlineScheduler,
    RunBlocking,
    ScheduledCall,
    StateTable,
    Watched,
    open_service_nursery,
)
from ..store import StoreClosedError, StoreWriteError, open_store
from ._entry import timer_id_problem, utc_now
from ._errors import (
    AutolockClosedError,
    AutolockNotRecoveredError,
    AutolockPersistError,
    AutolockTargetGone,
    InvalidDurationError,
)
from ._machine import ActionOutcome, Arm, Disarm, Effect, Persist, Remove, TimerMachine, TimerState
from ._timer_store import TimerStore

__all__ = [
    "Action",
    "AutolockService",
    "AutolockStatistics",
    "AutolockTimer",
    "RecoveryReport",
    "ServiceState",
    "open_autolock",
]

logger = logging.getLogger("trio_locksync.autolock")

#: ``await action(timer_id)``: lock the door the id names *now*; raise AutolockTargetGone if none
Action = Callable[[str], Awaitable[object]]
Clock = Callable[[], datetime.datetime]

#: recover() lets other tasks run after every this many entries
_RECOVER_BATCH = 1000

#: keymaster's allowed range tops out at 1,440 minutes
DEFAULT_MAX_DURATION = 24 * 3600.0


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


@attrs.frozen
class RecoveryReport:
    """What :meth:`AutolockService.recover` found on disk."""

    #: entries that expired while the process was down; fired inside recover()
    expired: int
    #: entries still in the future; armed with their remaining time
    resumed: int
    #: malformed entries dropped when the file was opened
    pruned: int


@attrs.frozen
class AutolockStatistics:
    """Counters of a service (see :meth:`AutolockService.statistics`)."""

    state: ServiceState
    timers: int
    armed: int
    fires: int
    action_failures: int
    targets_gone: int


class AutolockTimer:
    """One autolock timer; get it with :meth:`AutolockService.timer` (one object per id).

    The fire runs in the service's nursery; ``start`` and ``cancel`` wait for an in-flight
    action before they change anything. Every change of state and of the stored entry is made
    synchronously, in the order the calls were made, so calls need no lock: the last one wins,
    on disk as in memory.
    """

    def __init__(self, service: AutolockService, timer_id: str) -> None:
        self._service = service
        self._machine = TimerMachine(timer_id)
        self._watched = Watched(TimerState.FRESH)
        self._call: ScheduledCall | None = None
        # Made on the first failed action only: an OS-seeded RNG per timer would cost ~3 KB each.
        self._retry: Iterator[float] | None = None

    # -- public ------------------------------------------------------------------------------

    @property
    def timer_id(self) -> str:
        return self._machine.timer_id

    @property
    def state(self) -> TimerState:
        return self._machine.state

    @property
    def end_time(self) -> datetime.datetime | None:
        """When the timer fires (aware UTC), while ACTIVE or FIRING; else None."""
        entry = self._machine.entry
        return entry.end_time if entry is not None else None

    @property
    def remaining(self) -> float | None:
        """Seconds until it fires (0 while firing or retrying a failed action); None if idle."""
        entry = self._machine.entry
        return entry.remaining(self._service._now()) if entry is not None else None

    @property
    def is_running(self) -> bool:
        """ACTIVE or FIRING."""
        return self._machine.state in (TimerState.ACTIVE, TimerState.FIRING)

    def changes(self) -> AsyncIterator[TimerState]:
        """Yield the state after each change (the latest, if several happened meanwhile)."""
        return self._watched.values()

    async def start(self, duration: float) -> None:
        """Arm the timer for ``duration`` seconds (re-arm with the full duration if running).

        Returns once the entry is on disk, durably: a SIGKILL right after still locks the door at
        the next ``recover()``. If the write fails the timer stays armed in this process and
        :class:`AutolockPersistError` says so (the store keeps retrying). Waits for an in-flight
        action first. Raises :class:`AutolockNotRecoveredError` before ``recover()``,
        :class:`InvalidDurationError` for a bad duration.
        """
        seconds = self._service._check_duration(duration)
        await self._ready()
        await self._settle()
        self._service._check_open()
        self._retry = None
        storage = self._apply(self._machine.start(seconds, self._service._now()))
        await self._persist(storage, armed=True, what="the start")

    async def cancel(self) -> None:
        """Stop the timer and remove its entry; waits for an in-flight action. Idempotent.

        After it returns the action does not run (in this process; the removal is durable, so
        not after a restart either). A fire that fell due but has not started yet is prevented
        before this yields to any other task (keymaster #671): cancel wins that race.
        """
        await self._ready()
        await self._settle()
        self._service._check_open()
        storage = self._apply(self._machine.cancel())
        await self._persist(storage, armed=False, what="the cancel")

    def __repr__(self) -> str:
        return f"<AutolockTimer {self.timer_id!r} {self.state.value} end_time={self.end_time}>"

    # -- internals ---------------------------------------------------------------------------

    async def _ready(self) -> None:
        state = self._service.state
        if state is ServiceState.NOT_RECOVERED:
            raise AutolockNotRecoveredError(
                f"timer {self.timer_id!r}: call recover() on the service first; nothing changed"
            )
        self._service._check_open()
        while self._machine.state is TimerState.FRESH:
            # Only while recover() runs: no checkpoint otherwise, so a cancel decides at once.
            await self._service._recovery_done.wait()
            self._service._check_open()

    async def _settle(self) -> None:
        """Prevent a pending fire, or wait for a running one (and drop the retry it may arm)."""
        while self._call is not None and not self._call.finished:
            if not self._call.cancel():
                await self._call.wait_done()

    def _apply(self, effects: list[Effect], *, base: float | None = None) -> list[Persist | Remove]:
        """Carry out the scheduling effects now; return the storage ones for the caller.

        ``base`` is the trio time the machine's delays count from (default: now).
        """
        storage: list[Persist | Remove] = []
        for effect in effects:
            if isinstance(effect, Arm):
                self._disarm()
                scheduler = self._service._scheduler
                if scheduler.closed:
                    # The service is closing (a retry after a failure during the close grace):
                    # the entry stays on disk and the next recover() replays it.
                    continue
                deadline = (trio.current_time() if base is None else base) + effect.delay
                self._call = scheduler.call_at(deadline, self._fire)
            elif isinstance(effect, Disarm):
                self._disarm()
            else:
                storage.append(effect)
        self._watched.set(self._machine.state)
        return storage

    def _disarm(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None

    async def _persist(self, storage: list[Persist | Remove], *, armed: bool, what: str) -> None:
        store = self._service._timer_store
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
        self._apply(self._machine.due())
        service = self._service
        service._fires += 1
        outcome = ActionOutcome.INTERRUPTED
        try:
            await service._action(self.timer_id)
            outcome = ActionOutcome.OK
        except AutolockTargetGone:
            outcome = ActionOutcome.TARGET_GONE
            service._targets_gone += 1
            logger.info("autolock %r: target gone; timer ended", self.timer_id)
        except Exception:
            outcome = ActionOutcome.FAILED
            service._action_failures += 1
            logger.exception("autolock %r: action failed; entry kept for replay", self.timer_id)
        finally:
            delay = 0.0
            if outcome is ActionOutcome.FAILED:
                if self._retry is None:
                    self._retry = service._backoff.delays()
                delay = next(self._retry)
            else:
                self._retry = None
            for effect in self._apply(self._machine.action_finished(outcome, delay)):
                if isinstance(effect, Remove):
                    service._timer_store.remove_soon(self.timer_id)

    def _recover(self, now: datetime.datetime, base: float) -> bool:
        """Adopt the persisted entry; True if it had expired (it fires at once). ``now`` (wall)
        and ``base`` (trio) were read together, so every timer's deadline keeps its end time
        however long recovery takes."""
        entry = self._service._timer_store.get(self.timer_id)
        self._apply(self._machine.recover(entry, now), base=base)
        return entry is not None and entry.remaining(now) == 0.0

    def _detach(self) -> None:
        if self._machine.state is not TimerState.DETACHED:
            self._apply(self._machine.detach())


class AutolockService:
    """Owns the timers of one store file; made by :func:`open_autolock`."""

    def __init__(
        self,
        *,
        timer_store: TimerStore,
        scheduler: DeadlineScheduler,
        action: Action,
        now: Clock,
        max_duration: float,
        backoff: Backoff,
        pruned: int,
        path: str,
    ) -> None:
        self._timer_store = timer_store
        self._scheduler = scheduler
        self._action = action
        self._now_fn = now
        self._max_duration = max_duration
        self._backoff = backoff
        self._pruned = pruned
        self._path = path
        self._state = StateTable("AutolockService", ServiceState.NOT_RECOVERED, _SERVICE_TABLE)
        self._timers: dict[str, AutolockTimer] = {}
        self._recovery_done = trio.Event()
        self._fires = 0
        self._action_failures = 0
        self._targets_gone = 0

    @property
    def state(self) -> ServiceState:
        return self._state.current

    @property
    def timers(self) -> Mapping[str, AutolockTimer]:
        """Every timer object made so far, by id (read-only view)."""
        return MappingProxyType(self._timers)

    def timer(self, timer_id: str) -> AutolockTimer:
        """The one timer object for ``timer_id`` (made on first use).

        Raises ValueError for an id the store could not keep (not a non-empty str, or not
        encodable as UTF-8); the same rule prunes such ids from the file at open.
        """
        problem = timer_id_problem(timer_id)
        if problem is not None:
            raise ValueError(f"{problem}; timer_id must be a non-empty UTF-8 str")
        found = self._timers.get(timer_id)
        if found is not None:
            return found
        if self.state is ServiceState.CLOSED:
            raise AutolockClosedError(f"autolock service {self._path} is closed")
        timer = AutolockTimer(self, timer_id)
        self._timers[timer_id] = timer
        if self.state is ServiceState.READY:
            timer._recover(self._now(), trio.current_time())  # nothing on disk can be its
        return timer

    async def recover(self) -> RecoveryReport:
        """Claim every persisted entry exactly once; call it once, right after opening.

        Entries that expired while the process was down fire now, and this waits for those
        actions; future ones are armed with their remaining time (never more than their full
        duration, whatever the wall clock did). Timers touched before or during recovery wait for
        it, so a start can never overwrite an entry that still had to fire.
        """
        self._check_open()
        self._state.advance(ServiceState.RECOVERING)
        now, base = self._now(), trio.current_time()  # read together: deadlines keep end times
        expired: list[AutolockTimer] = []
        resumed = 0
        for count, timer_id in enumerate(self._timer_store.ids(), start=1):
            timer = self.timer(timer_id)
            if timer._recover(now, base):
                expired.append(timer)
            else:
                resumed += 1
            if count % _RECOVER_BATCH == 0:
                await trio.lowlevel.checkpoint()  # let the application run between batches
        for timer in list(self._timers.values()):
            if timer.state is TimerState.FRESH:
                timer._recover(now, base)
        self._state.advance(ServiceState.READY)
        self._recovery_done.set()
        for timer in expired:
            call = timer._call
            if call is not None:
                await call.wait_done()
        await trio.lowlevel.checkpoint()
        return RecoveryReport(expired=len(expired), resumed=resumed, pruned=self._pruned)

    def statistics(self) -> AutolockStatistics:
        return AutolockStatistics(
            state=self.state,
            timers=len(self._timers),
            armed=sum(1 for t in self._timers.values() if t.is_running),
            fires=self._fires,
            action_failures=self._action_failures,
            targets_gone=self._targets_gone,
        )

    def __repr__(self) -> str:
        return f"<AutolockService {self._path!r} {self.state.value} timers={len(self._timers)}>"

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> datetime.datetime:
        now = self._now_fn()
        if not isinstance(now, datetime.datetime) or now.utcoffset() is None:
            raise TypeError("the now() clock must return an aware datetime")
        return now.astimezone(datetime.UTC)

    def _check_open(self) -> None:
        if self.state is ServiceState.CLOSED:
            raise AutolockClosedError(f"autolock service {self._path} is closed; nothing changed")

    def _check_duration(self, duration: float) -> float:
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise InvalidDurationError(f"duration must be a number of seconds, not {duration!r}")
        if not (math.isfinite(duration) and 0 < duration <= self._max_duration):
            raise InvalidDurationError(
                f"duration must be within (0, {self._max_duration:g}] seconds, got {duration!r}"
            )
        return float(duration)

    async def _close(self, grace: float) -> None:
        if self.state is not ServiceState.CLOSED:
            self._state.advance(ServiceState.CLOSED)
        self._recovery_done.set()  # wake timers waiting for recovery: they will see CLOSED
        await self._scheduler.close(grace)
        for timer in self._timers.values():
            timer._detach()


@asynccontextmanager
async def open_autolock(
    path: os.PathLike[str] | str,
    *,
    action: Action,
    now: Clock | None = None,
    max_duration: float = DEFAULT_MAX_DURATION,
    backoff: Backoff | None = None,
    close_timeout: float = 30.0,
    durable: bool = True,
    run_blocking: RunBlocking | None = None,
) -> AsyncIterator[AutolockService]:
    """Run the autolock timers stored in ``path`` for the duration of the block.

    ``action(timer_id)`` is awaited when a timer fires; it should look up what the id means at
    that moment and raise :class:`AutolockTargetGone` if it means nothing any more. If it raises
    anything else the entry is kept and the fire is retried with ``backoff`` (default
    ``Backoff()``) (and after a
    restart, by ``recover()``). ``now`` is the wall clock (aware UTC), injectable for tests;
    scheduling itself runs on trio's clock. Durations must be within (0, ``max_duration``].

    Call ``await service.recover()`` first. Leaving the block stops sleeping timers (their
    entries stay on disk for the next ``recover()``) and lets a running action finish, shielded,
    for up to ``close_timeout`` seconds.
    """
    if not (max_duration > 0 and math.isfinite(max_duration)):
        raise ValueError(f"max_duration must be a positive number of seconds, got {max_duration!r}")
    if not close_timeout > 0:
        raise ValueError(f"close_timeout must be > 0, got {close_timeout!r}")
    clock = now if now is not None else utc_now
    async with open_store(path, durable=durable, run_blocking=run_blocking) as store:
        timer_store = TimerStore(store)
        pruned = await timer_store.load()
        async with open_service_nursery() as nursery:
            scheduler = DeadlineScheduler(nursery)
            service = AutolockService(
                timer_store=timer_store,
                scheduler=scheduler,
                action=action,
                now=clock,
                max_duration=max_duration,
                backoff=Backoff() if backoff is None else backoff,
                pruned=pruned,
                path=os.fspath(path),
            )
            nursery.start_soon(scheduler.run)
            try:
                yield service
            finally:
                with trio.CancelScope(shield=True):
                    await service._close(close_timeout)
                nursery.cancel_scope.cancel()
