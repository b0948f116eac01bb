"""The access plan's trio layer: ``open_access_plan`` and :class:`AccessPlan`.

The decisions are the sans-I/O :class:`~._machine.PlanMachine`'s; its effects are carried out by
the one :class:`~._interpreter.Interpreter`. This layer owns what awaits: the plan's file (one
:class:`~trio_locksync.Store`), the wall-clock edges (one task sleeping in a cancel scope until
the earliest edge), the keypad unlocks of each lock (one task per lock that reports them), and
the slot search of each lock (one task per lock, surveying only when grants wait for a slot).
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, final

import trio

from ..core import Backoff, ChangeFeed, Jitter, NoPublicConstructor
from ..credentials import (
    CredentialKind,
    EventSource,
    LockAction,
    LockDisconnected,
    LockEvent,
    LockOperationFailed,
    LockSync,
    SyncState,
)
from ..store import Store, StoreWriteError
from ._errors import (
    AccessPlanClosed,
    DuplicatePin,
    NoFreeSlot,
    UnknownGrant,
    UnknownLock,
    UsesNotCounted,
)
from ._grant import Grant
from ._interpreter import Interpreter
from ._machine import PlanMachine
from ._slots import Found, SlotFinder
from ._state import AccessChange, AccessPlanStatistics, AccessState, GrantOnLock

__all__ = ["SURVEY_RETRY", "AccessPlan", "Clock", "settled"]

logger = logging.getLogger("trio_locksync.access")

Clock = Callable[[], datetime.datetime]

#: the longest the edge task sleeps before it looks at the wall clock again (a clock that was
#: set forward or back is noticed within this)
_CLOCK_CHECK = 3600.0
#: a lock that could not be surveyed is tried again after these delays (unless its engine moves)
SURVEY_RETRY = Backoff(initial=30.0, maximum=1800.0, jitter=Jitter.NONE)


@final
class AccessPlan(metaclass=NoPublicConstructor):
    """Who may enter when, on which locks; made by :func:`open_access_plan`."""

    _OPENED_BY = "open_access_plan()"

    def __init__(
        self,
        syncs: Mapping[str, LockSync],
        machine: PlanMachine,
        store: Store[Any],
        now: Clock,
        finders: Mapping[str, SlotFinder],
        survey_retry: Backoff = SURVEY_RETRY,
    ) -> None:
        self._survey_retry = survey_retry
        self._syncs = syncs
        self._machine = machine
        self._store = store
        self._now = now
        self._finders = finders
        self._feed = ChangeFeed[AccessChange]()
        self._need = {lock: trio.Event() for lock in syncs}
        self._interpreter = Interpreter(syncs, self._feed.publish, self._ask)
        self._rescheduled = trio.Event()
        #: set (and replaced) whenever a slot search ends
        self._progress = trio.Event()
        self._in_search: set[str] = set()
        self._serial = trio.Lock()
        self._open = True
        #: the cancel scopes of wait_settled() calls waiting now (cancelled when the plan closes)
        self._waiting: set[trio.CancelScope] = set()
        self._uses_counted = 0
        self._uncounted = 0
        self._saves = 0
        #: the moves applied when the plan opened (edges that passed while it was closed)
        self.recovered: tuple[AccessChange, ...] = ()
        #: grants dropped from the file as malformed when it opened
        self.dropped = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def locks(self) -> list[str]:
        """The plan's locks, in order."""
        return list(self._syncs)

    def grants(self) -> list[str]:
        """Every grant's name (any state), in the order first granted."""
        return self._machine.names()

    def grant_of(self, name: str) -> Grant:
        """The grant ``name`` (:class:`UnknownGrant` if none)."""
        self._known(name)
        return self._machine.grant_of(name)

    async def grant(self, grant: Grant) -> None:
        """Add ``grant``, or replace the grant of that name; returns once it is on disk and its
        codes are handed to the engines (which write and verify them on their own).

        Raises, writing nothing: :class:`UnknownLock`; :class:`UsesNotCounted` (``uses`` on a
        lock that does not report keypad unlocks); :class:`DuplicatePin` (another grant, or a
        code the plan does not manage, has the same PIN on one of its locks);
        :class:`NoFreeSlot` (a reachable lock has no candidate slot left). A lock that cannot
        be read now does not fail the grant: the grant WAITS there and lands when it answers.
        """
        self._check_open()
        if not isinstance(grant, Grant):
            raise TypeError(f"grant() takes a Grant, not {type(grant).__name__}")
        locks = self._locks_for(grant)
        if grant.uses is not None:
            for lock in locks:
                if not self._syncs[lock].reports_events:
                    raise UsesNotCounted(grant.name, lock)
        async with self._serial:
            self._check_open()
            for lock in locks:
                self._check_duplicate(grant, lock)
            found: dict[str, tuple[int, ...]] = {}
            for lock, count in self._machine.shortfall(grant).items():
                sync, finder = self._syncs[lock], self._finders[lock]
                if not sync.reachable:
                    continue
                try:
                    result = await finder.find(sync, count, self._machine.plan_slots(lock))
                except (LockDisconnected, LockOperationFailed) as exc:
                    logger.info(
                        "lock %s: no survey now (%s); the grant waits", lock, type(exc).__name__
                    )
                    continue
                if result.exhausted and len(result.free) < count:
                    raise NoFreeSlot(grant.name, lock, result.detail)
                found[lock] = result.free[:count]
            self._check_open()  # the block may have ended during the surveys
            for lock in locks:  # the surveys may have shown codes the plan does not manage
                self._check_duplicate(grant, lock)
            now = self._now()
            for lock, free in found.items():  # taken on at once, by this grant or waiting ones
                self._apply(self._machine.offer(now, lock, free, keep=True))
            self._apply(self._machine.grant(now, grant))
            await self._save()

    async def revoke(self, name: str) -> None:
        """Revoke ``name`` on every lock (its codes are removed, its slots given back); returns
        once that is on disk. :class:`UnknownGrant` if there is no such grant."""
        self._check_open()
        self._known(name)
        self._apply(self._machine.revoke(self._now(), name))
        await self._save()

    def status(self, name: str) -> dict[str, AccessState]:
        """Lock name → the grant's :class:`AccessState` there (:class:`UnknownGrant`)."""
        self._known(name)
        return {lock: a.state for lock, a in self._machine.assignments(name).items()}

    def detail(self, name: str, lock: str) -> GrantOnLock:
        """The grant on ``lock``: its state and the engine's state of its slot (is the code
        on the lock yet; if not, why, and when it is tried next)."""
        self._known(name)
        try:
            a = self._machine.assignment(name, lock)
        except KeyError:
            raise UnknownLock(lock, f"grant {name!r} is for {sorted(self.status(name))}") from None
        sync = self._syncs[lock]
        managed = a.slot is not None and a.slot in sync.slots
        return GrantOnLock(
            grant=name,
            lock=lock,
            state=a.state,
            reason=a.reason,
            slot=a.slot,
            sync=sync.state(a.slot) if managed and a.slot is not None else None,
            sync_reason=sync.reason(a.slot) if managed and a.slot is not None else "",
            retry_at=sync.retry_at(a.slot) if managed and a.slot is not None else math.inf,
            uses_left=a.uses_left,
            next_edge=self._machine.next_edge(name),
        )

    def changes(self) -> AsyncIterator[AccessChange]:
        """Every move of a grant on a lock, from now on (a subscriber more than 10,000 behind
        loses the oldest, counted in its ``dropped``)."""
        return self._feed.subscribe()

    def unmanaged(self, lock: str) -> dict[int, CredentialKind]:
        """Slots of ``lock`` that hold a code nobody manages (as last read): slot → KNOWN or
        UNREADABLE. The plan never writes them; :meth:`clear_unmanaged` empties one."""
        sync = self._sync(lock)
        return {s: r.kind for s, r in sorted(sync.unmanaged().items()) if r.is_present}

    async def clear_unmanaged(self, lock: str, slot: int) -> None:
        """Empty ``slot`` of ``lock``, a code the plan does not manage: the plan takes the slot
        on (verified empty by the engine) and may hand it to a grant afterwards."""
        self._check_open()
        sync = self._sync(lock)
        if slot not in self._finders[lock].candidates:
            raise ValueError(f"slot {slot!r} is not among the plan's candidate slots of {lock!r}")
        if slot in sync.slots:
            raise ValueError(
                f"slot {slot} of {lock!r} is managed; only unmanaged codes are cleared"
            )
        self._apply(self._machine.offer(self._now(), lock, [slot], keep=True))
        if slot not in sync.slots:  # no waiting grant took it: the engine empties it
            sync.take(slot, None)
        await self._save()

    async def wait_settled(self) -> None:
        """Wait until no reachable lock has a slot search to make or in progress and every
        lock's engine is settled (each slot IN_SYNC or SUSPENDED).

        :class:`AccessPlanClosed` once the plan's block has ended, and to a caller still
        waiting when it ends (a task outside the block).
        """
        await trio.lowlevel.checkpoint()
        self._check_open()
        with trio.CancelScope() as scope:
            self._waiting.add(scope)
            try:
                await self._wait_settled()
                return
            finally:
                self._waiting.discard(scope)
        raise AccessPlanClosed("wait_settled() gave up: the plan's block ended while it waited")

    async def _wait_settled(self) -> None:
        while True:
            for sync in self._syncs.values():
                await sync.wait_settled()
            if not self._searching() and all(settled(s) for s in self._syncs.values()):
                return
            progress = self._progress
            if self._searching():
                await progress.wait()

    def statistics(self) -> AccessPlanStatistics:
        """The plan's counters (see :class:`AccessPlanStatistics`)."""
        states: dict[AccessState, int] = {}
        for name in self._machine.names():
            for a in self._machine.assignments(name).values():
                states[a.state] = states.get(a.state, 0) + 1
        return AccessPlanStatistics(
            grants=len(self._machine.names()),
            states=states,
            edges=self._machine.edges_applied,
            uses_counted=self._uses_counted,
            uncounted_unlocks=self._uncounted,
            desires=self._interpreter.desires,
            surveys=sum(f.surveys for f in self._finders.values()),
            slots_read=sum(f.read for f in self._finders.values()),
            saves=self._saves,
        )

    def __repr__(self) -> str:
        return f"<AccessPlan locks={len(self._syncs)} grants={len(self._machine.names())}>"

    # -- internals ------------------------------------------------------------------------

    def _close(self) -> None:
        """The plan's block ends: calls raise AccessPlanClosed, waiters too; changes() end."""
        self._open = False
        self._feed.end()
        for scope in self._waiting:
            scope.cancel()

    def _check_open(self) -> None:
        if not self._open:
            raise AccessPlanClosed("the access plan is closed (its async with block ended)")

    def _known(self, name: str) -> None:
        if name not in self._machine.names():
            raise UnknownGrant(name)

    def _sync(self, lock: str) -> LockSync:
        try:
            return self._syncs[lock]
        except KeyError:
            raise UnknownLock(lock, sorted(self._syncs)) from None

    def _locks_for(self, grant: Grant) -> list[str]:
        if grant.locks is not None:
            for lock in sorted(grant.locks):
                self._sync(lock)
        return [lock for lock in self._syncs if grant.for_lock(lock)]

    def _check_duplicate(self, grant: Grant, lock: str) -> None:
        other = self._machine.duplicate(grant, lock)
        if other is not None:
            raise DuplicatePin(grant.name, lock, f"grant {other!r}")
        plan_slots = self._machine.plan_slots(lock)
        for slot, reading in self._syncs[lock].unmanaged().items():
            if (
                slot not in plan_slots
                and reading.kind is CredentialKind.KNOWN
                and reading.pin == grant.pin
            ):
                raise DuplicatePin(grant.name, lock, f"slot {slot}, not managed by the plan")

    def _apply(self, effects: Iterable[Any]) -> list[AccessChange]:
        published = self._interpreter.apply(effects)
        self._rescheduled.set()
        return published

    def _ask(self, lock: str) -> None:
        self._need[lock].set()

    def _searching(self) -> list[str]:
        """Reachable locks with a slot search asked for or under way."""
        return [
            lock
            for lock, sync in self._syncs.items()
            if sync.reachable and (self._need[lock].is_set() or lock in self._in_search)
        ]

    def _progressed(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    async def _save(self, *, background: bool = False) -> None:
        """Write the plan's file if it changed. A failed write raises StoreWriteError to a
        caller of grant()/revoke(); a background task logs it instead: either way the store
        keeps the data and retries it (a full disk must not end the plan)."""
        if self._interpreter.dirty:
            self._interpreter.dirty = False
            self._saves += 1
            try:
                await self._store.save(self._machine.to_json())
            except StoreWriteError as exc:
                if not background:
                    raise
                logger.warning("access plan: %s; kept and retried", exc)

    def _save_soon(self) -> None:
        if self._interpreter.dirty:
            self._interpreter.dirty = False
            self._saves += 1
            self._store.delay_save(self._machine.to_json, 1.0)

    # -- the tasks ------------------------------------------------------------------------

    async def _edges(self) -> None:
        """Apply each window edge at its time: one cancel-scope deadline, the earliest edge."""
        while True:
            wake = self._machine.next_wake()
            self._rescheduled = trio.Event()
            if wake is None:
                delay = _CLOCK_CHECK
            else:
                delay = min(_CLOCK_CHECK, (wake - self._now()).total_seconds())
            if delay > 0:
                with trio.move_on_after(delay):
                    await self._rescheduled.wait()
            now = self._now()
            if wake is not None and wake <= now:
                self._apply(self._machine.tick(now))
                self._save_soon()

    async def _count_uses(self, lock: str, events: AsyncIterator[LockEvent]) -> None:
        """Keypad unlocks that name a slot count against the grant holding it there."""
        warned = False
        async for event in events:
            if event.action is not LockAction.UNLOCK or event.source is not EventSource.KEYPAD:
                continue
            if event.slot is None:
                if self._has_limited(lock):
                    self._uncounted += 1
                    if not warned:
                        warned = True
                        logger.warning(
                            "lock %s: a keypad unlock named no user; uses cannot be counted on it",
                            lock,
                        )
                continue
            sync = self._syncs[lock]
            if event.slot in sync.slots and sync.state(event.slot) not in _CHARGEABLE:
                # A write to the slot is pending: the unlock may be the code of the grant that
                # held the slot before. Not charged to the new holder.
                if self._machine.holder(lock, event.slot) is not None:
                    self._uncounted += 1
                continue
            effects = self._machine.unlocked(self._now(), lock, event.slot)
            if effects:
                self._uses_counted += 1
                self._apply(effects)
                await self._save(background=True)  # on disk before the next use is counted

    def _has_limited(self, lock: str) -> bool:
        for name in self._machine.names():
            a = self._machine.assignments(name).get(lock)
            if a is not None and a.uses_left is not None:
                return True
        return False

    async def _find_slots(self, lock: str) -> None:
        """When grants wait for a slot of ``lock``: survey it, offer what is free, or say there
        is none; an unreachable lock is tried again later (30 s doubling to 30 min)."""
        sync, finder = self._syncs[lock], self._finders[lock]
        delays = self._survey_retry.delays()
        while True:
            await self._need[lock].wait()
            self._in_search.add(lock)
            self._need[lock] = trio.Event()
            try:
                result = await self._search(lock, sync, finder)
            finally:
                self._in_search.discard(lock)
                self._progressed()
            if result is None:
                # Woken by the engine's next move (the lock may be back) or after the delay;
                # subscribed now, so only moves from now on count.
                moved = sync.changes()
                with trio.move_on_after(next(delays)):
                    await moved.__anext__()
                self._need[lock].set()
                continue
            delays = self._survey_retry.delays()
            if result.exhausted and self._machine.waiting(lock):
                # NO_SLOT: a slot may free up at the door; look again after the interval
                with trio.move_on_after(finder.resurvey_interval):
                    await self._need[lock].wait()
                self._need[lock].set()

    async def _search(self, lock: str, sync: LockSync, finder: SlotFinder) -> Found | None:
        """One search for the grants waiting on ``lock``; None if the lock could not be read."""
        async with self._serial:
            count = self._machine.waiting(lock)
            if not count:
                return Found((), False, "")
            try:
                result = await finder.find(sync, count, self._machine.plan_slots(lock))
            except (LockDisconnected, LockOperationFailed) as exc:
                why = f"lock not read yet ({type(exc).__name__}); a slot is found when it answers"
                self._apply(self._machine.unreachable(lock, why))
                await self._save(background=True)
                return None
            now = self._now()
            if result.free:
                self._apply(self._machine.offer(now, lock, result.free))
            if result.exhausted and self._machine.waiting(lock):
                self._apply(self._machine.exhausted(now, lock, result.detail))
            await self._save(background=True)
            return result


#: engine states of a slot in which a keypad unlock naming it is its holder's use: verified, or
#: being read (after a restart); never while a write to it is pending or failing
_CHARGEABLE = frozenset({SyncState.IN_SYNC, SyncState.LOADING})


def settled(sync: LockSync) -> bool:
    """Every slot of ``sync`` IN_SYNC or SUSPENDED, now."""
    states = sync.statistics().states
    return all(state in (SyncState.IN_SYNC, SyncState.SUSPENDED) for state in states)
