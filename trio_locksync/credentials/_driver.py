"""The sans-I/O heart of one lock's sync: its slot machines, its reachability, and the one
interpreter of their effects.

:class:`SyncDriver` feeds inputs to the :class:`SlotMachine` of each managed slot and carries out
the effects they return — changes to the subscribers, the last-written memory, the need and
wake-up schedule — and turns provider outcomes (a result, or an exception) into machine inputs,
validating what a provider returns. It also holds what the lock as a whole has shown of its
answers to sets (:class:`WriteEvidence`), which each machine is given when its write begins. It
never awaits: the trio engine asks it for the next piece of work, performs it against the provider
and hands the outcome back; the Hypothesis harness does the same against a fake lock. Both drive
this one interpreter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping
from typing import final

import attrs

from ..core import PROBE_BACKOFF, Backoff, CircuitBreaker, ProbeBreaker
from ._effects import (
    Changed,
    Charged,
    Confirmed,
    Effect,
    Failure,
    Forget,
    Need,
    NeedKind,
    Operation,
    OpKind,
    Remember,
    WakeAt,
)
from ._errors import CodeRejected, LockDisconnected, LockOperationFailed
from ._knowledge import WriteEvidence
from ._memory import WrittenMemory
from ._models import SlotChange, SlotCredential, SlotUpdate, SyncState, WriteResult
from ._reach import LockReach
from ._rules import Desired
from ._slot import SlotMachine, SlotPolicy
from ._statistics import SyncCounts

__all__ = ["FullRead", "Operate", "ReadSlot", "SyncDriver", "Work"]

logger = logging.getLogger("trio_locksync.credentials")


@final
@attrs.frozen
class FullRead:
    """Read every slot (``read_slots(None)``): the first read, a drift re-read, or a probe."""


@final
@attrs.frozen
class ReadSlot:
    """Read one slot back (``read_slots([slot])``)."""

    slot: int


@final
@attrs.frozen
class Operate:
    """Give ``slot`` its turn: :meth:`SyncDriver.begin` says which write to make."""

    slot: int


Work = FullRead | ReadSlot | Operate


@final
class SyncDriver:
    """One lock's slot machines, reachability and effect interpreter. No I/O, no trio."""

    def __init__(
        self,
        desired: Mapping[int, Desired],
        *,
        memory: WrittenMemory,
        emit: Callable[[SlotChange], None],
        policy: SlotPolicy,
        retry_interval: float,
        drift_interval: float,
        breaker_failures: int = 3,
        breaker_window: float = 300.0,
        suspended_retry: Backoff | None = None,
        unreachable_retry: Backoff = PROBE_BACKOFF,
    ) -> None:
        self._memory = memory
        self._emit = emit
        self.machines = {
            slot: SlotMachine(
                slot,
                want,
                salt=memory.salt,
                last_written=memory.get(slot),
                breaker=CircuitBreaker(
                    failures=breaker_failures, window=breaker_window, retry=suspended_retry
                ),
                policy=policy,
            )
            for slot, want in desired.items()
        }
        self.reach = LockReach(
            retry_interval=retry_interval,
            drift_interval=drift_interval,
            breaker=ProbeBreaker(backoff=unreachable_retry),
        )
        self.counts = SyncCounts()
        self._needs: dict[int, Need] = {}
        self._wakes: dict[int, float] = {}
        self._logged: set[type[BaseException]] = set()
        self._write_evidence = WriteEvidence.UNKNOWN
        #: slots whose operation in flight is a set (its answer is evidence about the lock)
        self._setting: set[int] = set()

    # -- what the engine reads --------------------------------------------------------------

    def machine(self, slot: int) -> SlotMachine:
        """The machine of a managed slot (KeyError naming the slot otherwise)."""
        try:
            return self.machines[slot]
        except KeyError:
            raise KeyError(f"slot {slot} is not managed by this engine") from None

    @property
    def write_evidence(self) -> WriteEvidence:
        """What the lock's answers to sets have shown so far (see :class:`WriteEvidence`)."""
        return self._write_evidence

    def settled(self) -> bool:
        """Every slot IN_SYNC or SUSPENDED."""
        return all(
            m.state in (SyncState.IN_SYNC, SyncState.SUSPENDED) for m in self.machines.values()
        )

    def next_work(self, now: float) -> Work | None:
        """What to do at ``now``, if anything: deadlines that came are applied first; then a
        full read if one is due; then (while the lock is reachable) the earliest read-back, then
        the earliest operation."""
        self.tick(now)
        if now >= self.reach.full_read_at:
            return FullRead()
        if not self.reach.reachable:
            return None
        for kind, work in ((NeedKind.READ, ReadSlot), (NeedKind.OPERATION, Operate)):
            due = [
                (need.not_before, slot)
                for slot, need in self._needs.items()
                if need.kind is kind and need.not_before <= now
            ]
            if due:
                return work(min(due)[1])
        return None

    def tick(self, now: float) -> None:
        """Apply the deadlines that came by ``now`` (:meth:`next_work` does this first)."""
        for slot, when in list(self._wakes.items()):
            if when <= now:
                self._apply(slot, self.machines[slot].tick(now))

    @property
    def next_wake(self) -> float:
        """The earliest deadline a slot machine waits for (``math.inf``: none)."""
        return min(self._wakes.values(), default=math.inf)

    def next_deadline(self) -> float:
        """When :meth:`next_work` may next have something (``math.inf``: only an input can)."""
        candidates = [self.reach.full_read_at, *self._wakes.values()]
        if self.reach.reachable:
            candidates += [n.not_before for n in self._needs.values()]
        return min(candidates, default=math.inf)

    # -- inputs from outside the worker -----------------------------------------------------

    def desire(self, now: float, slot: int, want: Desired) -> None:
        """The caller changed what ``slot`` should hold."""
        self._apply(slot, self.machine(slot).desire(now, want))

    def pushed(self, now: float, update: object) -> None:
        """The lock pushed an update (it answered: it is reachable)."""
        if not (isinstance(update, SlotUpdate) and isinstance(update.credential, SlotCredential)):
            self._provider_bug("updates() yielded", update)
            return
        self._answered(now)
        machine = self.machines.get(update.slot)
        if machine is not None:
            self._apply(update.slot, machine.observe(now, update.credential))

    # -- the worker's operations --------------------------------------------------------------

    def begin(self, now: float, slot: int) -> Operation:
        """``slot``'s operation starts (after :meth:`next_work` returned ``Operate(slot)``)."""
        operation, effects = self.machines[slot].begin(now, writes=self._write_evidence)
        if operation.kind is OpKind.SET:
            self._setting.add(slot)
        if operation.kind is OpKind.SET:
            self.counts.sets += 1
        else:
            self.counts.clears += 1
        self._apply(slot, effects)
        return operation

    def written(self, now: float, slot: int, result: object) -> None:
        """The operation returned ``result``; anything but a WriteResult is a provider bug:
        charged to the slot, and the write is read back as if it were OPTIMISTIC (and a set
        counts as answered OPTIMISTIC). Only a CONFIRMED or NO_CHANGE answer proves the lock
        was reached: OPTIMISTIC means "sent" (for Zigbee2MQTT, the broker took it), so it must
        not reset the lock breaker — a lock gone from the radio would otherwise never add up
        three failures in a row between its failed read-backs."""
        if result is WriteResult.CONFIRMED or result is WriteResult.NO_CHANGE:
            self._answered(now)
        machine = self.machines[slot]
        if isinstance(result, WriteResult):
            answer = result
            if answer is WriteResult.OPTIMISTIC:
                self.counts.optimistic += 1
            self._apply(slot, machine.written(now, answer))
        else:
            answer = WriteResult.OPTIMISTIC
            why = self._provider_bug("a write returned", result)
            self._apply(slot, machine.unverified(now, why))
        if slot in self._setting:
            self._setting.discard(slot)
            self._write_evidence = self._write_evidence.after(answer)

    def write_failed(self, now: float, slot: int, error: Exception) -> None:
        """The operation raised ``error`` (no evidence of how the lock answers a set)."""
        machine = self.machines[slot]
        self._setting.discard(slot)
        if isinstance(error, LockDisconnected):
            self.counts.disconnects += 1
            self._apply(slot, machine.failed(now, Failure.DISCONNECTED, _describe(error)))
            self._lock_failed(now, _describe(error), full_read=False)
            return
        self._answered(now)
        if isinstance(error, LockOperationFailed):
            self._apply(slot, machine.failed(now, Failure.FAILED, error.reason or "no reason"))
        elif isinstance(error, CodeRejected):
            self._apply(slot, machine.failed(now, Failure.REJECTED, error.reason or "no reason"))
        else:
            logger.error(
                "slot %s: unexpected provider error %s", slot, type(error).__name__, exc_info=error
            )
            self._apply(slot, machine.failed(now, Failure.UNEXPECTED, type(error).__name__))

    def read(self, now: float, slots: Collection[int] | None, result: object) -> None:
        """``read_slots(slots)`` returned ``result`` (``slots`` None: a full read). Anything but
        a mapping of slot → SlotCredential is a provider bug, charged to the lock."""
        if not _valid_reading(result):
            why = self._provider_bug("read_slots returned", result)
            self._read_failed(now, slots, why, lock_fault=True)
            return
        assert isinstance(result, Mapping)
        self._answered(now)
        if slots is None:
            self.reach.full_read_done(now)
            for slot, machine in self.machines.items():
                reading = result.get(slot)
                if reading is None:  # a write-only lock: see SlotMachine.unreported
                    self._apply(slot, machine.unreported(now))
                else:
                    self._apply(slot, machine.observe(now, reading))
            return
        for slot in slots:
            machine = self.machines[slot]
            reading = result.get(slot)
            if reading is None:
                self._apply(slot, machine.read_failed(now))
            else:
                self._apply(slot, machine.observe(now, reading))

    def read_failed(self, now: float, slots: Collection[int] | None, error: Exception) -> None:
        """``read_slots(slots)`` raised ``error``. A disconnect counts against the lock, and so
        does anything unexpected (a provider bug): the lock breaker then backs the re-reads off
        and suspends the slots, instead of a retry (and a traceback) every ``retry_interval``.
        LockOperationFailed means the lock answered: a full read is retried after
        ``retry_interval``, a read-back leaves the slot to its deadline."""
        if isinstance(error, LockDisconnected):
            self.counts.disconnects += 1
            self._read_failed(now, slots, _describe(error), lock_fault=True)
        elif isinstance(error, LockOperationFailed):
            self._read_failed(now, slots, _describe(error), lock_fault=False)
        else:
            why = f"read_slots raised {type(error).__name__}"
            self._read_failed(now, slots, why, lock_fault=True, error=error)

    # -- the interpreter --------------------------------------------------------------------

    def _read_failed(
        self,
        now: float,
        slots: Collection[int] | None,
        why: str,
        *,
        lock_fault: bool,
        error: Exception | None = None,
    ) -> None:
        if slots is not None:
            for slot in slots:
                self._apply(slot, self.machines[slot].read_failed(now))
        if lock_fault:
            self._lock_failed(now, why, full_read=slots is None, error=error)
            return
        self._answered(now)
        if slots is None:
            self.reach.full_read_refused(now)
            logger.debug("lock: full read failed (%s); retrying", why)

    def _lock_failed(
        self, now: float, why: str, *, full_read: bool, error: Exception | None = None
    ) -> None:
        """One failure counted against the lock, logged in one line (a traceback only the first
        time an unexpected error type is seen)."""
        exc_info: Exception | None = None
        if error is not None and type(error) not in self._logged:
            self._logged.add(type(error))
            exc_info = error
        became = self.reach.failed(now, full_read=full_read)
        then = _in(self.reach.full_read_at - now)
        if became:
            logger.warning(
                "lock unreachable after %d failures (last: %s); next probe %s",
                self.reach.breaker.consecutive,
                why,
                then,
                exc_info=exc_info,
            )
            for slot, machine in self.machines.items():
                self._apply(slot, machine.lock_unreachable(now, why))
        elif not self.reach.reachable:
            logger.warning(
                "lock still unreachable (%s); next probe %s", why, then, exc_info=exc_info
            )
        elif error is not None:
            logger.warning(
                "lock: %s (a provider bug?); next full read %s", why, then, exc_info=exc_info
            )
        else:
            logger.debug("lock: %s", why)

    def _answered(self, now: float) -> None:
        if self.reach.answered(now):
            logger.info("lock reachable again")
            for slot, machine in self.machines.items():
                self._apply(slot, machine.lock_reachable(now))

    def _provider_bug(self, what: str, value: object) -> str:
        # The type only, never the value: it could hold PINs.
        why = f"provider bug: {what} {type(value).__name__}"
        logger.warning("%s", why)
        return why

    def _apply(self, slot: int, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Changed):
                self._emit(SlotChange(slot, effect.state, effect.reason))
            elif isinstance(effect, Remember):
                self._memory.remember(slot, effect.digest)
            elif isinstance(effect, Forget):
                self._memory.forget(slot)
            elif isinstance(effect, Need):
                if effect.kind is NeedKind.NOTHING:
                    self._needs.pop(slot, None)
                else:
                    self._needs[slot] = effect
            elif isinstance(effect, WakeAt):
                if math.isinf(effect.when):
                    self._wakes.pop(slot, None)
                else:
                    self._wakes[slot] = effect.when
            elif isinstance(effect, Charged):
                self.counts.slot_failures += 1
            elif isinstance(effect, Confirmed):
                self.counts.confirmed_by_read += 1


def _valid_reading(result: object) -> bool:
    return isinstance(result, Mapping) and all(
        isinstance(v, SlotCredential) for v in result.values()
    )


def _in(seconds: float) -> str:
    return "at once" if seconds <= 0 else f"in {seconds:g} s"


def _describe(error: LockDisconnected | LockOperationFailed) -> str:
    return f"{error.what}: {error.reason}" if error.reason else error.what
