"""The sans-I/O heart of one lock's sync: the inputs of its driver, and the schedule of work.

:class:`SyncDriver` feeds inputs to the :class:`SlotMachine` of each managed slot and turns
provider outcomes (a result, or an exception) into machine inputs, validating what a provider
returns; what it holds and how it carries out effects is :class:`~._driver_core.DriverCore`. It
never awaits: the trio engine asks it for the next piece of work (:mod:`._work`), performs it
against the provider and hands the outcome back; the Hypothesis harness does the same against a
fake lock. Both drive this one interpreter.

Slots come and go at run time: :meth:`~SyncDriver.take` starts managing one (read first, scoped
to the slots taken, then acted on), :meth:`~SyncDriver.release` stops (an operation in flight
for it ends unseen by the slot). Callers read unmanaged slots through
:meth:`~SyncDriver.request_survey`: a survey is one piece of work like any other, so it waits
its turn and keeps the spacing. While the lock is unreachable surveys are refused at once,
without I/O; the lock's probe (a full read of the managed slots, or with none a :class:`Probe`
of one slot) finds out when it answers again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import final

from ..core import InvalidTransition
from ._driver_core import DriverCore, InFlight, describe, logger, valid_reading
from ._effects import Failure, NeedKind, Operation, OpKind
from ._errors import CodeRejected, LockDisconnected, LockOperationFailed
from ._models import SlotChange, SlotCredential, SlotUpdate, SyncState, WriteResult
from ._rules import Desired
from ._slot import SlotMachine
from ._survey import check_slot
from ._work import FirstRead, FullRead, Operate, Probe, Read, ReadSlot, Survey, Work

__all__ = ["FirstRead", "FullRead", "Operate", "Probe", "ReadSlot", "Survey", "SyncDriver", "Work"]


@final
class SyncDriver(DriverCore):
    """One lock's slot machines, reachability and effect interpreter. No I/O, no trio."""

    # -- the schedule -----------------------------------------------------------------------

    def next_work(self, now: float) -> Work | None:
        """What to do at ``now``, if anything: deadlines that came are applied first; then a
        full read of the managed slots if one is due (none without managed slots, but for the
        probe of an unreachable lock: a ``Probe``). While the lock is unreachable that is
        all: the surveys waiting are refused (answered LockDisconnected). Otherwise the earliest
        read-back, the first reads due, the oldest survey, then the earliest operation."""
        self.tick(now)
        full = self._full_read()
        if full is not None and now >= self.reach.full_read_at:
            return full
        waiting = self._book.waiting
        if not self.reach.reachable:
            for survey in waiting:
                self._reply(survey, self._refusal(now))
            return None
        reads = self._due(NeedKind.READ, now)
        if reads:
            return ReadSlot(min(reads)[1])
        first = tuple(sorted(slot for slot, when in self._first_reads_due() if when <= now))
        if first:
            return FirstRead(first)
        if waiting:
            return waiting[0]
        operations = self._due(NeedKind.OPERATION, now)
        return Operate(min(operations)[1]) if operations else None

    def _full_read(self) -> FullRead | Probe | None:
        """What the full read (drift re-read, probe) reads when it is due, if anything."""
        if self.machines:
            return FullRead(tuple(sorted(self.machines)))
        if not self.reach.reachable and self._probe_slot is not None:
            return Probe((self._probe_slot,))
        return None  # nothing managed: nothing to re-read, and the lock is taken to answer

    def _due(self, kind: NeedKind, now: float) -> list[tuple[float, int]]:
        return [
            (need.not_before, slot)
            for slot, need in self._needs.items()
            if need.kind is kind and need.not_before <= now
        ]

    def _first_reads_due(self) -> list[tuple[int, float]]:
        """Each first read and when it is due: not while an empty reading of the slot is set
        aside (a recent set of ours), whose doubt must end first (its machine's wake-up)."""
        due = []
        for slot, when in self._first_reads.items():
            doubt = self.machines[slot].wake  # a LOADING machine wakes only to end a doubt
            due.append((slot, when if math.isinf(doubt) else max(when, doubt)))
        return due

    def tick(self, now: float) -> None:
        """Apply the deadlines that came by ``now`` (:meth:`next_work` does this first)."""
        for slot, when in list(self._wakes.items()):
            if when <= now:
                self._apply(slot, self.machines[slot].tick(now))

    def next_deadline(self) -> float:
        """When :meth:`next_work` may next have something (``math.inf``: only an input can)."""
        candidates = list(self._wakes.values())
        if self._full_read() is not None:
            candidates.append(self.reach.full_read_at)
        if self.reach.reachable:
            candidates += [n.not_before for n in self._needs.values()]
            candidates += [when for _, when in self._first_reads_due()]
        return min(candidates, default=math.inf)

    def retry_at(self, now: float, slot: int) -> float:
        """When the engine next means to act on ``slot`` of its own accord (a write, a read, a
        deadline, or the lock's probe while the lock is unreachable): ``now`` if that is due or
        its operation is under way, ``math.inf`` if nothing is scheduled (in sync, or suspended
        until the desired code changes). The worker may start later (one operation at a time,
        spaced). KeyError for a slot not managed."""
        machine = self.machine(slot)
        if machine.state is SyncState.SYNCING:
            return now  # its operation is under way, or waiting for its turn
        need = self._needs.get(slot)
        times = [
            self._wakes.get(slot, math.inf),
            need.not_before if need is not None else math.inf,
            dict(self._first_reads_due()).get(slot, math.inf),
        ]
        if not self.reach.reachable or machine.state is SyncState.LOADING:
            times.append(self.reach.full_read_at)
        when = min(times)
        return when if math.isinf(when) and when > 0 else max(when, now)

    # -- inputs from outside the worker -----------------------------------------------------

    def desire(self, now: float, slot: int, want: Desired) -> None:
        """The caller changed what ``slot`` should hold."""
        self._apply(slot, self.machine(slot).desire(now, want))

    def take(self, now: float, slot: int, want: Desired) -> None:
        """Start managing ``slot`` (ValueError if it is managed or < 0); its last unmanaged
        reading is dropped and a change is emitted. A new machine starts LOADING from the
        memory's last-written digest for it, its first read due at once — SUSPENDED instead
        while the lock is unreachable (the probe's full read then reads it). If the engine set
        the slot within ``pending_ttl``, an empty reading is set aside until then, as after the
        machine's own write (a lagging lock). A slot released while its operation is still in
        flight gets that operation's machine back (it knows of the write), now wanting ``want``."""
        check_slot(slot)
        if slot in self.machines:
            raise ValueError(f"slot {slot} is already managed by this engine")
        flight = self._in_flight
        if flight is not None and flight.slot == slot:  # released, its operation in flight
            machine, revived = flight.machine, True
        else:
            machine, revived = self._new_machine(slot, want), False
        self.machines[slot] = machine
        self._book.managed(slot)
        self._seen_slot(slot)
        self._emit(SlotChange(slot, machine.state, machine.reason))
        if revived:
            # Release dropped its memory entry; nothing else (SYNCING, it has no need, and no
            # wake-up: its write ended any trust window).
            if machine.last_written is not None:
                self._memory.remember(slot, machine.last_written)
            self._apply(slot, machine.desire(now, want))
        elif self.reach.reachable:
            self._first_reads[slot] = now
        else:
            self._apply(slot, machine.lock_unreachable(now, ""))

    def release(self, slot: int) -> None:
        """Stop managing ``slot`` (KeyError if not managed): nothing is written, its memory
        entry is forgotten, its needs and wake-ups dropped. An operation begun for it is not
        sent if it has not been yet (:meth:`abandoned`); if it has, its outcome still counts
        for the lock (reachability, evidence) but not for the slot. Its readings from reads in
        flight are ignored; it is not in :attr:`unmanaged` until a survey or a push reads it."""
        self.machine(slot)
        del self.machines[slot]
        self._needs.pop(slot, None)
        self._wakes.pop(slot, None)
        self._first_reads.pop(slot, None)
        self._memory.forget(slot)

    def pushed(self, now: float, update: object) -> None:
        """The lock pushed an update (it answered: it is reachable). A managed slot observes it
        (as its first reading, if it had none); an unmanaged one's reading is kept."""
        if not (isinstance(update, SlotUpdate) and isinstance(update.credential, SlotCredential)):
            self._provider_bug("updates() yielded", update)
            return
        self._answered(now)
        machine = self.machines.get(update.slot)
        if machine is None:
            self._book.saw(update.slot, update.credential)
            return
        self._first_reads.pop(update.slot, None)
        self._apply(update.slot, machine.observe(now, update.credential))

    def request_survey(self, now: float, slots: Collection[object]) -> Survey | None:
        """Queue a read of unmanaged ``slots``; None if there are none to read. ValueError for
        managed slots or a slot < 0 (TypeError for a non-int); LockDisconnected at once, without
        I/O, while the lock is unreachable (the lock's own probes find out when it is back)."""
        survey = self._book.ask(slots, self.machines)
        if survey is not None:
            if not self.reach.reachable:
                self._book.withdraw(survey)
                raise self._refusal(now)
            self._seen_slot(survey.slots[0])
        return survey

    def withdraw_survey(self, survey: Survey) -> None:
        """The caller stopped waiting for ``survey`` (cancelled): not started, it never is."""
        self._book.withdraw(survey)

    # -- the worker's operations --------------------------------------------------------------

    def begin(self, now: float, slot: int) -> Operation:
        """``slot``'s operation starts (after :meth:`next_work` returned ``Operate(slot)``)."""
        machine = self.machines[slot]
        operation, effects = machine.begin(now, writes=self._write_evidence)
        self._in_flight = InFlight(slot, machine, operation.kind)
        if operation.kind is OpKind.SET:
            self.counts.sets += 1
        else:
            self.counts.clears += 1
        self._apply(slot, effects)
        return operation

    def abandoned(self, work: Work) -> bool:
        """Whether nobody wants ``work`` any more: an operation whose slot was released since
        it began, or a survey its caller withdrew. The worker skips it if not sent yet
        (:meth:`drop`)."""
        if isinstance(work, Survey):
            return not self._book.wanted(work)
        if isinstance(work, Operate):
            flight = self._in_flight
            return flight is not None and self.machines.get(flight.slot) is not flight.machine
        return False

    def drop(self, work: Work) -> None:
        """The worker did not send ``work`` (it was :meth:`abandoned`)."""
        if isinstance(work, Operate) and self._in_flight is not None:
            if self._in_flight.kind is OpKind.SET:
                self.counts.sets -= 1
            else:
                self.counts.clears -= 1
            self._in_flight = None

    def _landed(self, slot: int) -> tuple[SlotMachine | None, bool]:
        """The operation for ``slot`` ended: its machine if still managed, and whether it was a
        set (its answer is evidence about the lock)."""
        flight, self._in_flight = self._in_flight, None
        if flight is None or flight.slot != slot:
            machine = self.machine(slot)
            raise InvalidTransition(f"slot {slot}", machine.state, "an operation's outcome")
        current = flight.machine if self.machines.get(slot) is flight.machine else None
        return current, flight.kind is OpKind.SET

    def written(self, now: float, slot: int, result: object) -> None:
        """The operation returned ``result``; anything but a WriteResult is a provider bug:
        charged to the slot, and the write is read back as if it were OPTIMISTIC (and a set
        counts as answered OPTIMISTIC). Only a CONFIRMED or NO_CHANGE answer proves the lock
        was reached: OPTIMISTIC means "sent" (for Zigbee2MQTT, the broker took it), so it must
        not reset the lock breaker — a lock gone from the radio would otherwise never add up
        three failures in a row between its failed read-backs."""
        machine, was_set = self._landed(slot)
        if result is WriteResult.CONFIRMED or result is WriteResult.NO_CHANGE:
            self._answered(now)
        answer = result if isinstance(result, WriteResult) else WriteResult.OPTIMISTIC
        if was_set:
            self._write_evidence = self._write_evidence.after(answer)
            self._wrote_at[slot] = now
        if isinstance(result, WriteResult):
            if result is WriteResult.OPTIMISTIC:
                self.counts.optimistic += 1
            if machine is not None:
                self._apply(slot, machine.written(now, result))
        else:
            why = self._provider_bug("a write returned", result)
            if machine is not None:
                self._apply(slot, machine.unverified(now, why))

    def write_failed(self, now: float, slot: int, error: Exception) -> None:
        """The operation raised ``error`` (no evidence of how the lock answers a set)."""
        machine, _ = self._landed(slot)
        if isinstance(error, LockDisconnected):
            self.counts.disconnects += 1
            if machine is not None:
                self._apply(slot, machine.failed(now, Failure.DISCONNECTED, describe(error)))
            self._lock_failed(now, describe(error), full_read=False)
            return
        self._answered(now)
        if machine is None:
            return
        if isinstance(error, LockOperationFailed):
            failure, detail = Failure.FAILED, error.reason or "no reason"
        elif isinstance(error, CodeRejected):
            failure, detail = Failure.REJECTED, error.reason or "no reason"
        else:
            logger.error(
                "slot %s: unexpected provider error %s", slot, type(error).__name__, exc_info=error
            )
            failure, detail = Failure.UNEXPECTED, type(error).__name__
        self._apply(slot, machine.failed(now, failure, detail))

    def read(self, now: float, work: Read, result: object) -> None:
        """``read_slots(work.slots)`` returned ``result``. Anything but a mapping of slot →
        SlotCredential is a provider bug, charged to the lock. A slot released since is
        skipped. A slot the reading leaves out is unreported after a full or first read, a
        failed read-back otherwise."""
        if isinstance(work, Survey):
            self._surveyed(now, work, result)
            return
        if not valid_reading(result):
            why = self._provider_bug("read_slots returned", result)
            self._read_failed(now, work, why, lock_fault=True)
            return
        assert isinstance(result, Mapping)
        self._answered(now)
        if isinstance(work, FullRead):
            self.reach.full_read_done(now)
        for slot in work.slots:
            machine = self.machines.get(slot)
            if machine is None:
                if isinstance(work, Probe) and slot in result:
                    self._book.saw(slot, result[slot])
                continue
            first = self._first_reads.pop(slot, None) is not None
            reading = result.get(slot)
            if reading is not None:
                if self._is_read_back(work, machine):
                    self._apply(slot, machine.read_back(now, reading))
                else:
                    self._apply(slot, machine.observe(now, reading))
            elif first or not isinstance(work, ReadSlot):
                self._apply(slot, machine.unreported(now))  # a write-only lock
            else:
                self._apply(slot, machine.read_failed(now))
            if machine.state is SyncState.LOADING:
                # An empty reading set aside (a recent set of ours): read again once the doubt
                # ends, not only at the next drift read.
                self._first_reads[slot] = now + self._retry

    def _is_read_back(self, work: Read, machine: SlotMachine) -> bool:
        """``work`` is the read-back of ``machine``'s pending write, from a provider whose reads
        follow its writes: its answer is evidence either way (not a full read, not a push)."""
        return (
            self._reads_follow_writes
            and isinstance(work, ReadSlot)
            and machine.state is SyncState.PENDING_CONFIRMATION
        )

    def read_failed(self, now: float, work: Read, error: Exception) -> None:
        """``read_slots(work.slots)`` raised ``error``. A disconnect counts against the lock,
        and so does anything unexpected (a provider bug): the lock breaker then backs the
        re-reads off and suspends the slots, instead of a retry (and a traceback) every
        ``retry_interval``. LockOperationFailed means the lock answered: a full or first read
        is retried after ``retry_interval``, a read-back leaves the slot to its deadline."""
        if isinstance(work, Survey):
            self._survey_failed(now, work, error)
        elif isinstance(error, LockDisconnected):
            self.counts.disconnects += 1
            self._read_failed(now, work, describe(error), lock_fault=True)
        elif isinstance(error, LockOperationFailed):
            self._read_failed(now, work, describe(error), lock_fault=False)
        else:
            why = f"read_slots raised {type(error).__name__}"
            self._read_failed(now, work, why, lock_fault=True, error=error)

    def _read_failed(
        self, now: float, work: Read, why: str, *, lock_fault: bool, error: Exception | None = None
    ) -> None:
        for slot in work.slots:
            machine = self.machines.get(slot)
            if machine is None:
                continue
            if slot in self._first_reads:
                self._first_reads[slot] = now + self._retry
            self._apply(slot, machine.read_failed(now))
        if lock_fault:
            probe = isinstance(work, FullRead | Probe)
            self._lock_failed(now, why, full_read=probe, error=error)
            return
        self._answered(now)
        if isinstance(work, FullRead):
            self.reach.full_read_refused(now)
            logger.debug("lock: full read failed (%s); retrying", why)
