"""The per-lock credential sync engine (seed 001): verified, event-driven, one operation at a time.

The decisions live in the sans-I/O :class:`SyncDriver` (one :class:`SlotMachine` per slot, the
lock's reachability, the effect interpreter). This module is the trio layer around it: one worker
task per lock asks the driver for the next piece of work, performs it against the provider at
least ``operation_spacing`` after the previous one, and hands the outcome back; between pieces of
work it sleeps in a cancel scope whose deadline is the driver's next deadline. A desired change,
a slot taken or released, a survey asked for, or a pushed update wakes it at once.

No work reads the whole lock: the full read (the first, each drift re-read, the probe) reads the
managed slots, a slot taken at run time is read alone first, and a survey reads what its caller
names. An engine without managed slots reads nothing until asked.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any, final

import attrs
import trio

from ..core import (
    PROBE_BACKOFF,
    Backoff,
    ChangeFeed,
    NoPublicConstructor,
    Pin,
    open_service_nursery,
    require_trio,
)
from ..store import Store
from ._driver import Operate, SyncDriver, Work
from ._effects import OpKind
from ._errors import LockSyncClosedError
from ._events import LockEvent, LockEventProvider
from ._memory import WrittenMemory, open_memory
from ._models import SlotChange, SlotCredential, SlotUpdate, SyncState
from ._provider import LockProvider, reads_follow_writes
from ._rules import Desired
from ._slot import SUSPENDED_RETRY, SlotPolicy
from ._statistics import LockSyncStatistics
from ._survey import SurveyOutcome
from ._work import Survey

__all__ = ["LockSync", "LockSyncStatistics", "SlotChange", "open_lock_sync"]


@attrs.define
class _Waiter:
    """A survey's caller, waiting for its outcome."""

    done: trio.Event = attrs.field(factory=trio.Event)
    outcome: SurveyOutcome | trio.ClosedResourceError | None = None


@final
class LockSync(metaclass=NoPublicConstructor):
    """Keeps the managed slots of one lock as desired; made by :func:`open_lock_sync`.

    Once the engine's block has ended, what it knew stays readable (:meth:`state`,
    :meth:`statistics`, ...), every :meth:`changes` iterator ends, and the calls that change
    or wait (:meth:`set_desired`, :meth:`take`, :meth:`release`, :meth:`survey`,
    :meth:`wait_settled`) raise :class:`LockSyncClosedError`, also to a caller still waiting.
    """

    _OPENED_BY = "open_lock_sync()"

    def __init__(
        self,
        provider: LockProvider,
        desired: Mapping[int, Desired],
        *,
        operation_spacing: float,
        memory: WrittenMemory,
        policy: SlotPolicy,
        drift_interval: float,
        breaker_failures: int,
        breaker_window: float,
        suspended_retry: Backoff | None,
        unreachable_retry: Backoff,
    ) -> None:
        self._provider = provider
        self._spacing = operation_spacing
        self._feed = ChangeFeed[SlotChange]()
        self._waiters: dict[int, _Waiter] = {}
        self._closed = False
        self._driver = SyncDriver(
            desired,
            memory=memory,
            emit=self._feed.publish,
            policy=policy,
            retry_interval=policy.retry_interval,
            drift_interval=drift_interval,
            breaker_failures=breaker_failures,
            breaker_window=breaker_window,
            suspended_retry=suspended_retry,
            unreachable_retry=unreachable_retry,
            answer=self._answer,
            reads_follow_writes=reads_follow_writes(provider),
        )
        self._last_op = -math.inf
        self._wake = trio.Event()

    # -- public ------------------------------------------------------------------------------

    def state(self, slot: int) -> SyncState:
        """The slot's state (KeyError for a slot this engine does not manage)."""
        return self._driver.machine(slot).state

    def reason(self, slot: int) -> str:
        """Why the slot is in its state (never contains a PIN)."""
        return self._driver.machine(slot).reason

    @property
    def slots(self) -> list[int]:
        """The managed slot numbers, in order."""
        return sorted(self._driver.machines)

    def set_desired(self, slot: int, *, pin: str | Pin | None, enabled: bool = True) -> None:
        """Change what ``slot`` should hold; the engine acts on it at once. Never blocks.

        A change of (enabled, PIN) lifts a suspension and drops a pending optimistic write
        without charging it (a clear supersedes a pending set).
        """
        self._check_open("set_desired()", slot)
        self._driver.desire(trio.current_time(), slot, Desired(enabled=enabled, pin=_as_pin(pin)))
        self._wake_up()

    def take(self, slot: int, pin: str | Pin | None, *, enabled: bool = True) -> None:
        """Start managing ``slot`` now, wanting ``pin`` while ``enabled`` (None: empty). Never
        blocks.

        The slot starts LOADING (a change is emitted) from the memory's last-written digest for
        it, as a slot given at open does: a masked code we wrote there earlier costs no write.
        It is read first, alone (or with other slots taken meanwhile; a full read due anyway
        reads it too), then acted on. While the lock is unreachable it is SUSPENDED with the
        others until the probe reads it. If the engine set the slot less than ``pending_ttl``
        ago, an empty reading is set aside until then, as after any write of its own (a lock
        that reports writes late). A slot released while its write is in flight and taken
        again before it ends gets that write's state back: its outcome is judged against the
        new desired code. ValueError if ``slot`` is managed or < 0.
        """
        self._check_open("take()", slot)
        self._driver.take(trio.current_time(), slot, Desired(enabled=enabled, pin=_as_pin(pin)))
        self._wake_up()

    def release(self, slot: int) -> None:
        """Stop managing ``slot``; nothing is written to the lock. Never blocks.

        Its remembered digest is forgotten and its pending work dropped. A write for it that
        is waiting for its turn is not sent; one already sent finishes, and its outcome counts
        for the lock only. The slot is not in :meth:`unmanaged` until a survey or a push reads
        it. KeyError if the slot is not managed.
        """
        self._check_open("release()", slot)
        self._driver.release(slot)
        self._wake_up()

    async def survey(self, slots: Collection[int]) -> Mapping[int, SlotCredential]:
        """Read unmanaged ``slots`` (``read_slots(sorted(slots))``) and return the reading of
        each slot the lock has (a provider leaves out slots it does not have). The readings
        also update :meth:`unmanaged`.

        One operation of the engine's worker: it waits its turn behind the operation in flight
        and the read-backs due, keeps ``operation_spacing`` and counts in ``reads``.

        Raises the provider's LockDisconnected or LockOperationFailed, each counted against the
        lock as any read's is (an unexpected error is a provider bug: LockOperationFailed,
        chained). While the lock is unreachable (:attr:`reachable` False), LockDisconnected at
        once without I/O, and so for a survey still waiting when the lock becomes unreachable:
        the engine's own probes find out when it is back (with no managed slot, by reading the
        lowest slot it ever managed or surveyed); survey again then. ValueError for a managed
        slot or a slot < 0, TypeError for a slot that is not an int, and the provider's
        ValueError for a slot the lock cannot have (not counted against the lock).

        Cancelling the caller withdraws a survey that has not started; one already started
        finishes (its readings still update :meth:`unmanaged`). :class:`LockSyncClosedError`
        (a :class:`~trio_locksync.ClosedError`) once the engine's block has ended (also for a
        survey waiting then).
        """
        await trio.lowlevel.checkpoint()
        self._check_open("survey()")
        survey = self._driver.request_survey(trio.current_time(), slots)
        if survey is None:
            return {}
        waiter = self._waiters[survey.request] = _Waiter()
        self._wake_up()
        try:
            await waiter.done.wait()
        finally:
            del self._waiters[survey.request]
            self._driver.withdraw_survey(survey)  # a no-op once it was answered
        outcome = waiter.outcome
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None
        return outcome

    def unmanaged(self) -> Mapping[int, SlotCredential]:
        """The last reading of each unmanaged slot the engine has seen, from surveys and from
        pushes (a copy). A slot taken leaves it; a slot released is not in it until read."""
        return dict(self._driver.unmanaged)

    @property
    def reachable(self) -> bool:
        """The lock is not known to be unreachable (three connectivity failures in a row)."""
        return self._driver.reach.reachable

    def retry_at(self, slot: int) -> float:
        """The trio time the engine next means to act on ``slot`` (its next write, read or
        deadline, or the probe of an unreachable lock): now if due, ``math.inf`` if nothing is
        scheduled (in sync, or suspended until its desired code changes). KeyError if the slot
        is not managed."""
        return self._driver.retry_at(trio.current_time(), slot)

    @property
    def reports_events(self) -> bool:
        """The provider reports lock events (:class:`LockEventProvider`: it has ``events()``)."""
        return isinstance(self._provider, LockEventProvider)

    def events(self) -> AsyncIterator[LockEvent]:
        """The provider's :meth:`~LockEventProvider.events`: every lock event from now on.
        TypeError naming the provider's type if it reports none."""
        provider = self._provider
        if not isinstance(provider, LockEventProvider):
            raise TypeError(f"{type(provider).__name__} reports no lock events (no events())")
        return provider.events()

    def changes(self) -> AsyncIterator[SlotChange]:
        """Every change of a slot's (state, reason), in order, from now on. A subscriber that
        falls more than 10,000 changes behind loses the oldest ones (counted in its
        ``dropped``). It ends with the engine's block."""
        return self._feed.subscribe()

    def statistics(self) -> LockSyncStatistics:
        """The engine's counters (see :class:`LockSyncStatistics`)."""
        driver = self._driver
        states = collections.Counter(m.state for m in driver.machines.values())
        return driver.counts.snapshot(lock_reachable=driver.reach.reachable, states=dict(states))

    async def wait_settled(self) -> None:
        """Wait until every slot is IN_SYNC or SUSPENDED (at that moment);
        :class:`LockSyncClosedError` if the engine's block ends first."""
        await trio.lowlevel.checkpoint()
        self._check_open("wait_settled()")
        changes = self._feed.subscribe()
        while not self._driver.settled():
            try:
                await changes.__anext__()
            except StopAsyncIteration:  # the feed ends with the engine's block
                raise LockSyncClosedError(
                    "wait_settled() gave up: the block ended before every slot settled"
                ) from None

    # -- the worker --------------------------------------------------------------------------

    async def _run(self) -> None:
        driver = self._driver
        while True:
            work = driver.next_work(trio.current_time())
            if work is None:
                with trio.move_on_at(driver.next_deadline()):
                    await self._wake.wait()
            else:
                await self._perform(work)

    async def _perform(self, work: Work) -> None:
        driver, provider = self._driver, self._provider
        if isinstance(work, Operate):
            operation = driver.begin(trio.current_time(), work.slot)  # SYNCING from here
            if not await self._space(work):
                return
            try:
                if operation.kind is OpKind.SET:
                    result: object = await provider.set_code(work.slot, operation.pin)
                else:
                    result = await provider.clear_code(work.slot)
            except Exception as error:
                driver.write_failed(trio.current_time(), work.slot, error)
            else:
                driver.written(trio.current_time(), work.slot, result)
            return
        if not await self._space(work):
            return
        driver.counts.reads += 1
        try:
            result = await provider.read_slots(list(work.slots))
        except Exception as error:
            driver.read_failed(trio.current_time(), work, error)
        else:
            driver.read(trio.current_time(), work, result)

    async def _space(self, work: Work) -> bool:
        """One operation at a time, at least ``operation_spacing`` apart: False if ``work`` was
        abandoned while it waited (a slot released, a survey withdrawn), and is not sent."""
        await trio.sleep_until(self._last_op + self._spacing)
        if self._driver.abandoned(work):
            self._driver.drop(work)
            return False
        self._last_op = trio.current_time()
        self._driver.counts.operations += 1
        return True

    def _answer(self, survey: Survey, outcome: SurveyOutcome) -> None:
        waiter = self._waiters.get(survey.request)
        if waiter is not None:  # else its caller was cancelled
            waiter.outcome = outcome
            waiter.done.set()

    def _check_open(self, call: str, slot: int | None = None) -> None:
        if self._closed:
            raise LockSyncClosedError(f"{call} not performed", slot=slot)

    def _close(self) -> None:
        """The engine's block ends: waiting surveys and wait_settled() calls raise
        LockSyncClosedError, every changes() iterator ends."""
        self._closed = True
        self._feed.end()
        for waiter in self._waiters.values():
            waiter.outcome = LockSyncClosedError("the survey waiting for its turn was dropped")
            waiter.done.set()

    async def _consume_pushes(self, pushes: AsyncIterator[SlotUpdate]) -> None:
        async for update in pushes:
            self._driver.pushed(trio.current_time(), update)
            self._wake_up()

    def _wake_up(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    def __repr__(self) -> str:
        return (
            f"<LockSync slots={len(self._driver.machines)} "
            f"reachable={self._driver.reach.reachable}>"
        )


def _as_pin(pin: str | Pin | None) -> Pin | None:
    if pin is None or isinstance(pin, Pin):
        return pin
    return Pin(pin)


@asynccontextmanager
async def open_lock_sync(
    provider: LockProvider,
    slots: Mapping[int, str | None],
    *,
    operation_spacing: float = 2.0,
    pending_ttl: float = 60.0,
    retry_interval: float = 2.0,
    breaker_failures: int = 3,
    breaker_window: float = 300.0,
    suspended_retry: Backoff | None = SUSPENDED_RETRY,
    unreachable_retry: Backoff = PROBE_BACKOFF,
    drift_interval: float = 3600.0,
    store_path: os.PathLike[str] | str | None = None,
    store: Store[Any] | None = None,
    believed: bool = False,
) -> AsyncIterator[LockSync]:
    """Keep ``slots`` of the lock behind ``provider`` as desired, for the duration of the block.

    ``slots`` maps each managed slot to its PIN (None: managed and must be empty). With
    ``store_path`` the engine remembers, across restarts, a salted digest of the last PIN it
    wrote to each slot (so a masked slot needs no extra write after a restart); without, in
    memory. ``store`` is the same with a Store you opened yourself (and keep open longer than
    this block); give at most one of the two.

    A slot whose writes keep failing (``breaker_failures`` charged within ``breaker_window``
    seconds) is SUSPENDED and tried again on ``suspended_retry`` (1 h doubling to 24 h; None:
    only when its desired code changes). A lock that failed to answer three times in a row is
    unreachable: all its slots SUSPENDED, re-probed on ``unreachable_retry`` (60 s doubling to
    30 min), back to LOADING as soon as it answers (an operation or a push). A write the lock
    accepted is trusted over an empty reading for ``pending_ttl``. ``believed=True`` is for
    write-only locks: an optimistic write that is never contradicted counts as in sync after
    ``pending_ttl`` instead of being charged (see docs/guides/credentials.md).
    """
    require_trio("open_lock_sync()")
    for name, value in (
        ("operation_spacing", operation_spacing),
        ("retry_interval", retry_interval),
        ("pending_ttl", pending_ttl),
        ("drift_interval", drift_interval),
        ("breaker_window", breaker_window),
    ):
        if not (value >= 0 if name == "operation_spacing" else value > 0):
            raise ValueError(f"{name} must be positive, got {value!r}")
    if suspended_retry is not None and not isinstance(suspended_retry, Backoff):
        raise TypeError("suspended_retry must be a Backoff or None")
    if not isinstance(unreachable_retry, Backoff):
        raise TypeError("unreachable_retry must be a Backoff")
    desired = {int(n): Desired(enabled=p is not None, pin=_as_pin(p)) for n, p in slots.items()}
    async with open_memory(store_path, store) as memory:
        engine = LockSync._create(
            provider,
            desired,
            operation_spacing=operation_spacing,
            memory=memory,
            policy=SlotPolicy(
                pending_ttl=pending_ttl, retry_interval=retry_interval, believed=believed
            ),
            drift_interval=drift_interval,
            breaker_failures=breaker_failures,
            breaker_window=breaker_window,
            suspended_retry=suspended_retry,
            unreachable_retry=unreachable_retry,
        )
        async with open_service_nursery() as nursery:
            nursery.start_soon(engine._run)
            if provider.supports_push:
                # Subscribed here, before the first read is even scheduled: updates() is a
                # fan-out from the call on, so nothing pushed after open is missed.
                nursery.start_soon(engine._consume_pushes, provider.updates())
            try:
                yield engine
            finally:
                engine._close()
                nursery.cancel_scope.cancel()
