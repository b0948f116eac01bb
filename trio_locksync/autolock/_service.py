"""The autolock service: it owns the timers of one store file, recovers them, and closes them.

Three layers with three lifetimes, kept apart as the seed's redesign asks:

* persistence — :class:`~._timer_store.TimerStore` (one durable file for every timer);
* scheduling — a :class:`~trio_locksync.core.DeadlineScheduler` in the service's nursery (a
  cancel-scope deadline, one task for all waiting timers; a due timer fires as its own task);
  a timer ``recover()`` resumed and nobody touched yet is only a ``(deadline, id)`` tuple in
  the service's dormant heap (:class:`~._dormant.Dormant`) until touched or nearly due;
* orchestration — :class:`~._timer.AutolockTimer`, the trio layer around a sans-I/O
  :class:`~._driver.TimerDriver`, which interprets a :class:`~._machine.TimerMachine`'s effects.

``open_autolock`` builds them and the :class:`~._context.AutolockContext` they share.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import final

import attrs
import trio

from ..core import (
    Backoff,
    DeadlineScheduler,
    NoPublicConstructor,
    RunBlocking,
    open_service_nursery,
    require_trio,
)
from ..store import open_store
from ._context import Action, AutolockContext, Clock, ServiceState
from ._dormant import Dormant
from ._entry import timer_id_problem, utc_now
from ._errors import AutolockClosedError
from ._machine import TimerState
from ._timer import AutolockTimer
from ._timer_store import TimerStore

__all__ = [
    "Action",
    "AutolockService",
    "AutolockStatistics",
    "RecoveryReport",
    "open_autolock",
]

#: recover() (and the dormant heap's promotions) let other tasks run after every this many
_RECOVER_BATCH = 1000

#: a dormant timer becomes an object this many seconds before its deadline (its scheduled call
#: then fires it at the exact deadline)
_PROMOTE_LEAD = 1.0

#: keymaster's allowed range tops out at 1,440 minutes
DEFAULT_MAX_DURATION = 24 * 3600.0


@final
@attrs.frozen
class RecoveryReport:
    """What :meth:`AutolockService.recover` found on disk."""

    #: entries that expired while the process was down; fired inside recover()
    expired: int
    #: entries still in the future; armed with their remaining time
    resumed: int
    #: malformed entries dropped when the file was opened
    pruned: int


@final
@attrs.frozen
class AutolockStatistics:
    """A snapshot of a service's counters (see :meth:`AutolockService.statistics`)."""

    #: the service's lifecycle state
    state: ServiceState
    #: timer objects made so far (one per id used or recovered)
    timers: int
    #: timers ACTIVE or FIRING now
    armed: int
    #: actions started (a retry of a failed action counts again)
    fires: int
    #: actions that raised (each entry was kept and its fire retried)
    action_failures: int
    #: actions that raised AutolockTargetGone (each timer ended for good)
    targets_gone: int


@final
class AutolockService(metaclass=NoPublicConstructor):
    """Owns the timers of one store file; made by :func:`open_autolock`."""

    _OPENED_BY = "open_autolock()"

    def __init__(self, context: AutolockContext, *, pruned: int) -> None:
        self._context = context
        self._pruned = pruned
        self._timers: dict[str, AutolockTimer] = {}
        self._dormant = Dormant()

    @property
    def state(self) -> ServiceState:
        """Where the service is in its lifecycle."""
        return self._context.state

    @property
    def timers(self) -> Mapping[str, AutolockTimer]:
        """Every timer object made so far or recovered, by id (read-only view).

        A recovered timer nobody touched yet has no object until it is read here (or through
        :meth:`timer`): iterating the whole view makes every one of them.
        """
        return _TimersView(self)

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
        if self._is_dormant(timer_id):
            return self._wake(timer_id)
        if self.state is ServiceState.CLOSED:
            raise AutolockClosedError(f"autolock service {self._context.path} is closed")
        timer = AutolockTimer._create(self._context, timer_id)
        self._timers[timer_id] = timer
        if self.state is ServiceState.READY:
            # nothing on disk can be its: recover() claimed every entry
            timer._recover(self._context.now(), trio.current_time())
        return timer

    async def recover(self) -> RecoveryReport:
        """Claim every persisted entry exactly once; call it once, right after opening.

        Entries that expired while the process was down fire now, and this waits for those
        actions; future ones are armed with their remaining time (never more than their full
        duration, whatever the wall clock did). Timers touched before or during recovery wait for
        it, so a start can never overwrite an entry that still had to fire.
        """
        context = self._context
        context.check_open()
        context.advance(ServiceState.RECOVERING)
        now, base = context.now(), trio.current_time()  # read together: deadlines keep end times
        timers = self._timers
        expired: list[AutolockTimer] = []
        sleeping: list[tuple[float, str]] = []
        resumed = 0
        store = context.timer_store
        # A list of the ids, not of (id, entry) pairs: 100,000 tuples holding a tracked object
        # each would stay tracked and set off full collections of the cyclic GC (~0.1 s each).
        for count, timer_id in enumerate(store.ids(), start=1):
            if count % _RECOVER_BATCH == 0:
                await trio.lowlevel.checkpoint()  # let the application run between batches
            timer = timers.get(timer_id)
            if timer is None:
                remaining = store.remaining(timer_id, now)
                if remaining is None:  # cannot happen: only a timer object removes its own entry
                    continue
                if remaining > 0.0:
                    # Dormant: a tuple, no object (the entry stays in the timer store).
                    sleeping.append((base + remaining, timer_id))
                    resumed += 1
                    continue
                timer = self._make(timer_id)  # expired: it fires now
            if timer._recover(now, base):
                expired.append(timer)
            else:
                resumed += 1
        for timer in list(timers.values()):
            if timer.state is TimerState.FRESH:
                timer._recover(now, base)
        self._dormant.fill(sleeping, (now, base), timers)
        context.advance(ServiceState.READY)
        for timer in expired:
            call = timer._call
            if call is not None:
                await call.wait_done()
        await trio.lowlevel.checkpoint()
        return RecoveryReport(expired=len(expired), resumed=resumed, pruned=self._pruned)

    def statistics(self) -> AutolockStatistics:
        """A snapshot of the service's counters (since the block was entered). Never blocks."""
        context = self._context
        return AutolockStatistics(
            state=self.state,
            timers=len(self._timers) + self._dormant.count,
            armed=sum(1 for t in self._timers.values() if t.is_running)
            + (self._dormant.count if self.state is ServiceState.READY else 0),
            fires=context.fires,
            action_failures=context.action_failures,
            targets_gone=context.targets_gone,
        )

    def __repr__(self) -> str:
        return (
            f"<AutolockService {self._context.path!r} {self.state.value}"
            f" timers={len(self._timers) + self._dormant.count}>"
        )

    def _is_dormant(self, timer_id: str) -> bool:
        return (
            self._dormant.filled
            and timer_id not in self._timers
            and timer_id in self._context.timer_store
        )

    def _dormant_ids(self) -> list[str]:
        if not self._dormant.filled:
            return []
        timers = self._timers
        return [timer_id for timer_id in self._context.timer_store.ids() if timer_id not in timers]

    def _make(self, timer_id: str) -> AutolockTimer:
        timer = AutolockTimer._create(self._context, timer_id)
        self._timers[timer_id] = timer
        return timer

    def _wake(self, timer_id: str) -> AutolockTimer:
        """Make the object of a dormant timer: armed from recover()'s clock pair, as if
        recover() had made it (DETACHED once the service closed)."""
        timer = self._make(timer_id)
        self._dormant.count -= 1
        if self._dormant.count == 0:
            self._dormant.heap.clear()  # every entry left is stale: its timer has an object
        if self.state is ServiceState.CLOSED:
            timer._detach()
        else:
            timer._recover(*self._dormant.clocks())
        return timer

    async def _promote_dormant(self) -> None:
        """Runs in the service's nursery: each dormant timer still untouched becomes an object
        ``_PROMOTE_LEAD`` seconds before its deadline (its own scheduled call fires it)."""
        await self._context.wait_recovered()
        heap = self._dormant.heap
        popped = 0
        while heap and self.state is ServiceState.READY:
            deadline, timer_id = heap[0]
            if trio.current_time() < deadline - _PROMOTE_LEAD:
                await trio.sleep_until(deadline - _PROMOTE_LEAD)
                continue
            heapq.heappop(heap)
            if timer_id not in self._timers:  # else touched meanwhile: its object is armed
                self._wake(timer_id)
            popped += 1
            if popped % _RECOVER_BATCH == 0:
                await trio.lowlevel.checkpoint()

    async def _close(self, grace: float) -> None:
        if self.state is not ServiceState.CLOSED:
            # also wakes timers waiting for recovery: they will see CLOSED
            self._context.advance(ServiceState.CLOSED)
        await self._context.scheduler.close(grace)
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
    ``Backoff()``), and after a restart by ``recover()``. ``now`` is the wall clock (aware
    UTC), injectable for tests; scheduling itself runs on trio's clock. Durations must be
    within (0, ``max_duration``].

    Call ``await service.recover()`` first. Leaving the block stops sleeping timers (their
    entries stay on disk for the next ``recover()``) and lets a running action finish, shielded,
    for up to ``close_timeout`` seconds.
    """
    require_trio("open_autolock()")
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
            context = AutolockContext(
                timer_store=timer_store,
                scheduler=scheduler,
                action=action,
                now=clock,
                max_duration=max_duration,
                backoff=Backoff() if backoff is None else backoff,
                path=os.fspath(path),
            )
            service = AutolockService._create(context, pruned=pruned)
            nursery.start_soon(scheduler.run)
            nursery.start_soon(service._promote_dormant)
            try:
                yield service
            finally:
                with trio.CancelScope(shield=True):
                    await service._close(close_timeout)
                nursery.cancel_scope.cancel()


@final
class _TimersView(Mapping[str, AutolockTimer]):
    """``AutolockService.timers``: the objects made so far, then the dormant timers (each made
    when it is read)."""

    __slots__ = ("_service",)

    def __init__(self, service: AutolockService) -> None:
        self._service = service

    def __getitem__(self, timer_id: str) -> AutolockTimer:
        service = self._service
        found = service._timers.get(timer_id)
        if found is not None:
            return found
        if isinstance(timer_id, str) and service._is_dormant(timer_id):
            return service._wake(timer_id)
        raise KeyError(timer_id)

    def __iter__(self) -> Iterator[str]:
        service = self._service
        made = list(service._timers)
        dormant = service._dormant_ids()
        yield from made
        yield from dormant

    def __len__(self) -> int:
        service = self._service
        return len(service._timers) + service._dormant.count

    def __contains__(self, timer_id: object) -> bool:
        service = self._service
        return timer_id in service._timers or (
            isinstance(timer_id, str) and service._is_dormant(timer_id)
        )

    def __repr__(self) -> str:
        return f"<timers of {self._service!r}>"
