"""What one lock's driver holds, and the one interpreter of its machines' effects: the seam
under :class:`SyncDriver`.

:class:`DriverCore` keeps the managed slots' :class:`SlotMachine`\\ s, the lock's reachability
(:class:`LockReach`), what the lock's answers to sets have shown (:class:`WriteEvidence`), the
needs and wake-ups the machines asked for, the slots taken at run time still waiting for their
first reading, the operation in flight and when each slot was last set, and what is known of the
slots it does not manage
(:class:`SurveyBook`). It carries out effects (:meth:`_apply`), reacts to the lock as a whole
(it answered: :meth:`_answered`; a failure counted against it: :meth:`_lock_failed`) and turns a
survey's outcome into its caller's answer.
:class:`SyncDriver` (``_driver``) adds the inputs. Sans-I/O, like the machines.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping
from typing import final

import attrs

from ..core import PROBE_BACKOFF, Backoff, CircuitBreaker, ProbeBreaker
from ._effects import (
    Changed,
    Charged,
    Confirmed,
    Effect,
    Forget,
    Need,
    NeedKind,
    OpKind,
    Remember,
    WakeAt,
)
from ._errors import LockDisconnected, LockOperationFailed
from ._knowledge import WriteEvidence
from ._memory import WrittenMemory
from ._models import SlotChange, SlotCredential, SyncState
from ._reach import LockReach
from ._rules import Desired
from ._slot import SlotMachine, SlotPolicy
from ._statistics import SyncCounts
from ._survey import SurveyBook, SurveyOutcome, refusal
from ._work import Survey

__all__ = ["DriverCore", "InFlight", "describe", "logger", "valid_reading"]

logger = logging.getLogger("trio_locksync.credentials")


@final
@attrs.frozen
class InFlight:
    """The operation begun for ``slot``: the machine that began it (a slot released meanwhile,
    and perhaps taken again, has another one) and its kind."""

    slot: int
    machine: SlotMachine
    kind: OpKind


def _no_one(survey: Survey, outcome: SurveyOutcome) -> None:
    """The default recipient of survey outcomes (a driver nobody surveys through)."""


class DriverCore:
    """One lock's machines, reachability and effect interpreter; :class:`SyncDriver` adds the
    inputs. No I/O, no trio."""

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
        answer: Callable[[Survey, SurveyOutcome], None] = _no_one,
        reads_follow_writes: bool = False,
    ) -> None:
        """``reads_follow_writes``: the provider answers a read from the lock's own table,
        after every write it returned from (see :meth:`SlotMachine.read_back`)."""
        self._memory = memory
        #: an empty read-back of a set proves the set lost (the provider says so)
        self._reads_follow_writes = reads_follow_writes
        self._emit = emit
        self._answer = answer
        self._policy = policy
        self._retry = retry_interval
        #: slot -> when the engine last sent a set to it (answered, whatever the answer)
        self._wrote_at: dict[int, float] = {}
        self._breaker = functools.partial(
            CircuitBreaker, failures=breaker_failures, window=breaker_window, retry=suspended_retry
        )
        self.machines: dict[int, SlotMachine] = {
            slot: self._new_machine(slot, want) for slot, want in desired.items()
        }
        self.reach: LockReach = LockReach(
            retry_interval=retry_interval,
            drift_interval=drift_interval,
            breaker=ProbeBreaker(backoff=unreachable_retry),
        )
        self.counts: SyncCounts = SyncCounts()
        self._needs: dict[int, Need] = {}
        self._wakes: dict[int, float] = {}
        #: slots taken at run time with no reading yet -> when their first read is due
        self._first_reads: dict[int, float] = {}
        self._book = SurveyBook()
        #: what the probe of an unreachable lock with no managed slot reads: the lowest slot
        #: ever managed or surveyed (a slot the lock has; None: nothing read, never unreachable)
        self._probe_slot: int | None = min(self.machines, default=None)
        self._in_flight: InFlight | None = None
        self._logged: set[type[BaseException]] = set()
        self._write_evidence = WriteEvidence.UNKNOWN

    def _seen_slot(self, slot: int) -> None:
        """``slot`` is managed or surveyed: a candidate for the probe."""
        if self._probe_slot is None or slot < self._probe_slot:
            self._probe_slot = slot

    def _new_machine(self, slot: int, want: Desired) -> SlotMachine:
        """A machine for ``slot``, starting from the memory's last-written digest for it and
        the time of the engine's last set of it (a slot released and taken again)."""
        return SlotMachine(
            slot,
            want,
            salt=self._memory.salt,
            last_written=self._memory.get(slot),
            breaker=self._breaker(),
            policy=self._policy,
            wrote_at=self._wrote_at.get(slot, -math.inf),
        )

    # -- what the engine reads --------------------------------------------------------------

    def machine(self, slot: int) -> SlotMachine:
        """The machine of a managed slot (KeyError naming the slot otherwise)."""
        try:
            return self.machines[slot]
        except KeyError:
            raise KeyError(f"slot {slot} is not managed by this engine") from None

    @property
    def write_evidence(self) -> WriteEvidence:
        """What the lock's answers to sets have shown so far (see ``WriteEvidence``)."""
        return self._write_evidence

    @property
    def unmanaged(self) -> Mapping[int, SlotCredential]:
        """The last reading of each unmanaged slot seen (surveys, pushes); a read-only view."""
        return self._book.seen

    def settled(self) -> bool:
        """Every slot IN_SYNC or SUSPENDED."""
        return all(
            m.state in (SyncState.IN_SYNC, SyncState.SUSPENDED) for m in self.machines.values()
        )

    @property
    def next_wake(self) -> float:
        """The earliest deadline a slot machine waits for (``math.inf``: none)."""
        return min(self._wakes.values(), default=math.inf)

    # -- the lock as a whole ----------------------------------------------------------------

    def _lock_failed(
        self, now: float, why: str, *, full_read: bool, error: Exception | None = None
    ) -> None:
        """One failure counted against the lock, logged in one line (a traceback only the first
        time an unexpected error type is seen). If it makes the lock unreachable, every slot is
        SUSPENDED and the first reads still due are left to the probe's full read."""
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
            self._first_reads.clear()
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

    # -- the outcomes of surveys -----------------------------------------------------------

    def _reply(self, survey: Survey, outcome: SurveyOutcome) -> None:
        """Answer ``survey``'s caller, unless it withdrew (then nobody waits for it)."""
        if self._book.wanted(survey):
            self._book.withdraw(survey)
            self._answer(survey, outcome)

    def _surveyed(self, now: float, survey: Survey, result: object) -> None:
        """A survey's reading: the caller gets the readings of the slots asked for that the lock
        has; those of slots still unmanaged are kept (:attr:`unmanaged`), and a slot taken
        since the survey was asked for observes its own (a reading like any other: no write
        was in flight meanwhile)."""
        if not valid_reading(result):
            why = self._provider_bug("read_slots returned", result)
            self._lock_failed(now, why, full_read=False)
            self._reply(survey, LockOperationFailed(why))
            return
        assert isinstance(result, Mapping)
        self._answered(now)
        readings: dict[int, SlotCredential] = {}
        for slot in survey.slots:
            reading = result.get(slot)
            if reading is None:
                continue
            readings[slot] = reading
            machine = self.machines.get(slot)
            if machine is None:
                self._book.saw(slot, reading)
            else:
                self._first_reads.pop(slot, None)
                self._apply(slot, machine.observe(now, reading))
        self._reply(survey, readings)

    def _survey_failed(self, now: float, survey: Survey, error: Exception) -> None:
        """A survey's read raised: the caller gets the error (a provider bug as
        LockOperationFailed), and it counts against the lock as any read's would. ValueError is
        the provider refusing slots the lock cannot have, before any I/O: the caller's."""
        if isinstance(error, LockDisconnected):
            self.counts.disconnects += 1
            self._lock_failed(now, describe(error), full_read=False)
            self._reply(survey, error)
        elif isinstance(error, LockOperationFailed):
            self._answered(now)
            self._reply(survey, error)
        elif isinstance(error, ValueError):
            self._reply(survey, error)
        else:
            why = f"read_slots raised {type(error).__name__}"
            self._lock_failed(now, why, full_read=False, error=error)
            failed = LockOperationFailed(f"{why} (a provider bug; logged)")
            failed.__cause__ = error
            self._reply(survey, failed)

    def _refusal(self, now: float) -> LockDisconnected:
        return refusal(self.reach.breaker.consecutive, self.reach.full_read_at - now)

    # -- the interpreter --------------------------------------------------------------------

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


def valid_reading(result: object) -> bool:
    """``result`` is what ``read_slots`` must return: a mapping of slot → SlotCredential."""
    return isinstance(result, Mapping) and all(
        isinstance(v, SlotCredential) for v in result.values()
    )


def _in(seconds: float) -> str:
    return "at once" if seconds <= 0 else f"in {seconds:g} s"


def describe(error: LockDisconnected | LockOperationFailed) -> str:
    """A provider error in one line (never a PIN: providers keep PINs out of reasons)."""
    return f"{error.what}: {error.reason}" if error.reason else error.what
