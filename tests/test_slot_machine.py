"""The sans-I/O slot machine (issue 9): unit tests of its transitions, and a Hypothesis
``RuleBasedStateMachine`` that drives :class:`SyncDriver` — the one effect interpreter the trio
engine uses too — against a synchronous fake lock holding the ground truth, on a float clock.

The fake lock is masked or readable; each write lands or not, answers CONFIRMED or OPTIMISTIC,
and may lag (read back empty for a while although stored); any operation may be answered with a
disconnect, a failure, a rejection, an unexpected exception or a result of the wrong type; codes
change at the keypad, pushed or not. The driver takes read-backs as evidence or not
(``reads_follow_writes``, issue 24; with a lagging fake lock that promise is broken, and the
invariants must hold all the same). Work starts and finishes in separate steps, so desired
changes, pushes, keypad changes, slots taken and released, and surveys asked for and withdrawn
land while an operation is in flight (issue 22: slots 1 and 2 are managed at first, slot 3 is
spare; a slot released while its write waits may have the write dropped unsent).

Invariants: a slot IN_SYNC holds what is desired (a code, or none when the slot is wanted empty),
unless the engine could not know better (a keypad change it has not seen) or it is inside the
deliberate trust window (an empty reading within ``pending_ttl`` of a write the lock accepted
with that PIN). Inputs a state does not take raise InvalidTransition and change nothing. At the
end the lock stops changing and the driver runs on its own: every slot ends IN_SYNC or
SUSPENDED, and on a lock whose writes never land a slot wanting a code it lacks is SUSPENDED.
Surveys: one runs only while the lock is reachable (an unreachable lock with no managed slot is
probed by reading one slot); each is answered at most once (exactly once unless withdrawn),
with the lock's readings of the slots asked for or the error the read raised; the unmanaged
readings never name a managed slot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from trio_locksync import Pin
from trio_locksync.core import CircuitBreaker, InvalidTransition
from trio_locksync.credentials import (
    CodeRejected,
    LockDisconnected,
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
)
from trio_locksync.credentials._driver import Operate, Probe, Survey, SyncDriver, Work
from trio_locksync.credentials._effects import (
    Changed,
    Charged,
    Failure,
    Need,
    NeedKind,
    Operation,
    OpKind,
    WakeAt,
)
from trio_locksync.credentials._memory import WrittenMemory
from trio_locksync.credentials._models import SlotChange
from trio_locksync.credentials._rules import Desired, pin_digest
from trio_locksync.credentials._slot import SlotMachine, SlotPolicy

IN, OUT, SUSP = SyncState.IN_SYNC, SyncState.OUT_OF_SYNC, SyncState.SUSPENDED
PEND, SYNCING, LOADING = SyncState.PENDING_CONFIRMATION, SyncState.SYNCING, SyncState.LOADING
TTL, RETRY, DRIFT = 60.0, 2.0, 600.0
SLOTS = (1, 2)  # managed at first
SPARE = 3  # not managed at first: taken, released and surveyed at run time
ALL = (*SLOTS, SPARE)
PINS = ("1111", "2222")
TRUSTING = "in sync (the lock accepted this code"


def machine(desired: str | None = "1111", **policy: Any) -> SlotMachine:
    return SlotMachine(
        1,
        Desired(enabled=desired is not None, pin=Pin(desired) if desired else None),
        salt=b"salt",
        last_written=None,
        breaker=CircuitBreaker(),
        policy=SlotPolicy(pending_ttl=TTL, retry_interval=RETRY, **policy),
    )


# -- unit tests of the transitions -------------------------------------------------------------


def test_first_reading_leaves_loading_and_asks_for_a_write() -> None:
    m = machine()
    assert m.state is LOADING
    effects = m.observe(0.0, SlotCredential.empty())
    assert effects == [
        Changed(OUT, "differs from the desired code"),
        Need(NeedKind.OPERATION, -math.inf),
    ]
    operation, effects = m.begin(0.0)
    assert operation == Operation(OpKind.SET, m.desired)
    assert effects == [Changed(SYNCING, "writing"), Need(NeedKind.NOTHING)]


def test_optimistic_write_reads_back_at_once_and_wakes_at_its_deadline() -> None:
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(1.0)
    effects = m.written(2.0, WriteResult.OPTIMISTIC)
    assert effects == [
        Changed(PEND, "optimistic write awaiting confirmation"),
        Need(NeedKind.READ, 2.0),
        WakeAt(2.0 + TTL),
    ]
    assert m.observe(3.0, SlotCredential.empty())[-1] == Need(NeedKind.NOTHING)  # keep waiting
    assert m.state is PEND
    m.tick(61.0)
    assert m.state is PEND  # not yet
    effects = m.tick(62.0)
    assert m.state is OUT
    assert m.need == Need(NeedKind.OPERATION, 62.0 + RETRY)
    assert m.wake == math.inf


def test_read_back_proving_a_set_absent_charges_it_and_makes_it_due_at_once() -> None:
    """Issue 24: the lock's own answer after the set shows no code — evidence, not lag."""
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(1.0)
    m.written(2.0, WriteResult.OPTIMISTIC)
    effects = m.read_back(3.0, SlotCredential.empty())
    why = "write did not land (the lock's answer shows no code)"
    assert effects == [
        Charged(why),
        Changed(OUT, why),
        Need(NeedKind.OPERATION, 3.0),  # due now: the worker's spacing is the only wait
        WakeAt(math.inf),  # no deadline left, no trust in the lost write
    ]
    assert m.breaker.count(3.0) == 1
    m.observe(3.5, SlotCredential.empty())  # a later empty reading is not set aside
    assert (m.state, m.need) == (OUT, Need(NeedKind.OPERATION, 3.0))


def test_read_back_with_the_code_confirms_as_any_reading_does() -> None:
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(1.0)
    m.written(2.0, WriteResult.OPTIMISTIC)
    m.read_back(3.0, SlotCredential.known("1111"))
    assert m.state is IN
    assert m.breaker.count(3.0) == 0


def test_three_sets_proved_absent_suspend_the_slot() -> None:
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    for now in (1.0, 5.0, 9.0):
        m.begin(now)
        m.written(now + 1, WriteResult.OPTIMISTIC)
        m.read_back(now + 2, SlotCredential.empty())
    assert m.state is SUSP
    assert m.reason.startswith("sync attempts exceeded (3 failures within 300 s; last: write")


@pytest.mark.parametrize(
    ("state_setup", "call"),
    [
        ("loading", lambda m: m.begin(0.0)),
        ("loading", lambda m: m.written(0.0, WriteResult.CONFIRMED)),
        ("loading", lambda m: m.lock_reachable(0.0)),
        ("in_sync", lambda m: m.failed(0.0, Failure.FAILED, "x")),
        ("in_sync", lambda m: m.begin(0.0)),
        ("syncing", lambda m: m.begin(0.0)),
        ("syncing", lambda m: m.lock_unreachable(0.0, "x")),
        ("out_not_due", lambda m: m.begin(2.5)),
        ("pending", lambda m: m.unverified(0.0, "x")),
        ("loading", lambda m: m.read_back(0.0, SlotCredential.empty())),
        ("in_sync", lambda m: m.read_back(0.0, SlotCredential.empty())),
        ("syncing", lambda m: m.read_back(0.0, SlotCredential.empty())),
        ("out_not_due", lambda m: m.read_back(2.5, SlotCredential.empty())),
    ],
)
def test_refused_inputs_raise_and_change_nothing(state_setup: str, call: Any) -> None:
    m = machine()
    if state_setup != "loading":
        m.observe(
            0.0,
            SlotCredential.known("1111") if state_setup == "in_sync" else SlotCredential.empty(),
        )
    if state_setup in ("syncing", "pending", "out_not_due"):
        m.begin(0.0)
    if state_setup == "pending":
        m.written(1.0, WriteResult.OPTIMISTIC)
    if state_setup == "out_not_due":
        m.failed(1.0, Failure.FAILED, "jammed")  # retry at 3
    before = m.snapshot()
    with pytest.raises(InvalidTransition):
        call(m)
    assert m.snapshot() == before


def test_a_new_write_ends_the_trust_and_the_content_is_unknown() -> None:
    """Found by the harness: a write the lock accepted (NO_CHANGE), then an empty push within
    the trust window (trusted away), then a clear that failed with a disconnect while the
    desired code went back to the written one: the slot was judged IN_SYNC on the trusted
    write although the lock had reported it empty. A new write now ends the trust: our write
    and the empty reading contradict each other, so the content is unknown (and forgotten)."""
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(0.0)
    m.desire(0.5, Desired(enabled=False, pin=None))
    m.written(1.0, WriteResult.NO_CHANGE)  # the lock says it holds 1111: out of sync (unwanted)
    assert m.state is OUT
    m.observe(2.0, SlotCredential.empty())  # within the trust window: set aside
    m.begin(3.0)  # the clear
    m.desire(3.5, Desired(enabled=True, pin=Pin("1111")))
    m.failed(4.0, Failure.DISCONNECTED, "gone")
    assert m.state is OUT, m.reason
    assert m.observed == SlotCredential.unreadable()  # unknown: written again
    assert m.last_written is None


def test_an_empty_reading_soon_after_an_unconfirmed_write_does_not_prove_the_slot_empty() -> None:
    """Found by the harness: an OPTIMISTIC write (it may have landed), the desired code changed
    to none (the pending write dropped), then a lagging lock read the slot empty: the slot was
    judged IN_SYNC ("empty, as wanted") while the lock held the abandoned PIN. The empty
    reading within pending_ttl of any write of ours is set aside, so the slot is cleared."""
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(0.0)
    m.written(1.0, WriteResult.OPTIMISTIC)
    m.desire(2.0, Desired(enabled=False, pin=None))  # pending dropped: content unknown
    assert m.state is OUT
    m.observe(3.0, SlotCredential.empty())  # a lagging read-back
    assert m.state is OUT  # still to be cleared
    operation, _ = m.begin(4.0)
    assert operation.kind is OpKind.CLEAR


def test_an_empty_reading_whose_trust_ran_out_does_not_prove_an_unwanted_code_gone() -> None:
    """Found by the harness: a write of ours (OPTIMISTIC, landed on a lagging lock), the
    desired code changed to none, an empty read-back set aside, and no work for a minute: when
    the trust ran out the old empty reading was believed and the slot judged IN_SYNC ("empty,
    as wanted") while the lock held the code. Now the content is unknown: it is cleared."""
    m = machine()
    m.observe(0.0, SlotCredential.empty())
    m.begin(0.0)
    m.written(1.0, WriteResult.OPTIMISTIC)
    m.desire(2.0, Desired(enabled=False, pin=None))
    m.observe(3.0, SlotCredential.empty())  # lag: set aside
    m.tick(1.0 + TTL)  # the trust runs out with no new reading
    assert m.state is OUT
    operation, _ = m.begin(1.0 + TTL)
    assert operation.kind is OpKind.CLEAR


# -- the stateful harness ------------------------------------------------------------------------


class Boom(Exception):
    """What a buggy provider raises."""


class FakeLock:
    """Synchronous ground truth: what each slot holds, and how the lock answers."""

    def __init__(self, *, masked: bool, never_lands: bool) -> None:
        self.masked = masked
        self.never_lands = never_lands
        self.codes: dict[int, str] = {}
        self.lag_until: dict[int, float] = {}
        #: slot -> (PIN, time) of the last write the lock accepted (CONFIRMED or NO_CHANGE)
        self.accepted: dict[int, tuple[str, float]] = {}

    def reading(self, slot: int, now: float) -> SlotCredential:
        code = self.codes.get(slot)
        if code is None or now < self.lag_until.get(slot, -math.inf):
            return SlotCredential.empty()
        return SlotCredential.unreadable() if self.masked else SlotCredential.known(code)

    def set(
        self, slot: int, pin: str, now: float, *, lands: bool, ambiguous: bool, lag: bool
    ) -> WriteResult:
        if self.codes.get(slot) == pin:
            self.accepted[slot] = (pin, now)
            return WriteResult.NO_CHANGE
        if lands and not self.never_lands:
            self.codes[slot] = pin
            if lag:
                self.lag_until[slot] = now + 10.0
            if not ambiguous:
                self.accepted[slot] = (pin, now)
                return WriteResult.CONFIRMED
        return WriteResult.OPTIMISTIC

    def clear(self, slot: int) -> WriteResult:
        if self.codes.pop(slot, None) is None:
            return WriteResult.NO_CHANGE
        return WriteResult.CONFIRMED


FAULTS = st.sampled_from(
    ["none"] * 15 + ["disconnect", "failed", "rejected", "unexpected", "garbage"]
)


class SlotHarness(RuleBasedStateMachine):
    @initialize(
        masked=st.booleans(),
        never_lands=st.booleans(),
        codes=st.fixed_dictionaries({slot: st.none() | st.sampled_from(PINS) for slot in ALL}),
        desired=st.fixed_dictionaries({slot: st.none() | st.sampled_from(PINS) for slot in SLOTS}),
        remembered=st.booleans(),
        follows=st.booleans(),
    )
    def setup(
        self,
        masked: bool,
        never_lands: bool,
        codes: dict[int, str | None],
        desired: dict[int, str | None],
        remembered: bool,
        follows: bool,
    ) -> None:
        self.now = 0.0
        self.lock = FakeLock(masked=masked, never_lands=never_lands)
        # someone else's codes, there before the engine
        self.lock.codes.update({slot: pin for slot, pin in codes.items() if pin is not None})
        self.desired = dict(desired)
        self.changes: list[SlotChange] = []
        self.version = dict.fromkeys(ALL, 0)
        self.known = dict.fromkeys(ALL, 0)
        # the memory of an earlier run that wrote the spare slot's code (true when remembered)
        spare = self.lock.codes.get(SPARE)
        written = {SPARE: pin_digest(b"salt", SPARE, Pin(spare))} if remembered and spare else {}
        #: survey request -> expected outcome (a reading, or the error raised), once performed
        self.expected: dict[int, object] = {}
        self.answers: dict[int, object] = {}
        self.asked: dict[int, Survey] = {}
        self.withdrawn: set[int] = set()
        self.driver = SyncDriver(
            {
                slot: Desired(enabled=pin is not None, pin=Pin(pin) if pin else None)
                for slot, pin in desired.items()
            },
            memory=WrittenMemory(b"salt", written, None),
            emit=self.changes.append,
            policy=SlotPolicy(pending_ttl=TTL, retry_interval=RETRY),
            retry_interval=RETRY,
            drift_interval=DRIFT,
            answer=self.answered,
            # the driver takes the read-backs as evidence (a lagging fake lock then breaks
            # the promise: the invariants must hold all the same)
            reads_follow_writes=follows,
        )
        self.in_flight: tuple[Work, Operation | None] | None = None

    def answered(self, survey: Survey, outcome: object) -> None:
        assert survey.request not in self.answers, "a survey answered twice"
        assert survey.request not in self.withdrawn, "a withdrawn survey answered"
        self.answers[survey.request] = outcome
        event(f"survey answered: {type(outcome).__name__}")
        expected = self.expected.get(survey.request)
        if expected is None:  # refused without I/O: the lock is unreachable
            assert isinstance(outcome, LockDisconnected)
            assert not self.driver.reach.reachable
        elif isinstance(expected, Mapping):
            assert outcome == expected
        else:
            assert isinstance(outcome, type(expected)), (outcome, expected)

    # -- the world moves -------------------------------------------------------------------

    @rule(dt=st.sampled_from([0.0, 0.5, 2.0, 10.0, 61.0]) | st.floats(0, 120))
    def wait(self, dt: float) -> None:
        """Time passes; every deadline on the way is applied at its own time (the engine sleeps
        until the earliest one)."""
        target = self.now + dt
        while self.driver.next_wake <= target:
            self.now = max(self.now, self.driver.next_wake)
            self.driver.tick(self.now)
        self.now = target

    @rule(slot=st.sampled_from(ALL), pin=st.none() | st.sampled_from(PINS), enabled=st.booleans())
    def desire(self, slot: int, pin: str | None, enabled: bool) -> None:
        want = Desired(enabled=enabled, pin=Pin(pin) if pin else None)
        if slot not in self.driver.machines:
            with pytest.raises(KeyError):
                self.driver.desire(self.now, slot, want)
            return
        self.desired[slot] = pin if enabled else None
        self.driver.desire(self.now, slot, want)

    @rule(slot=st.sampled_from(ALL), pin=st.none() | st.sampled_from(PINS), push=st.booleans())
    def keypad(self, slot: int, pin: str | None, push: bool) -> None:
        if self.lock.masked and pin is not None:
            pin = None  # a masked lock's keypad code reads like ours: no engine can tell
        if pin is None:
            self.lock.codes.pop(slot, None)
        else:
            self.lock.codes[slot] = pin
        self.lock.lag_until.pop(slot, None)
        self.version[slot] += 1
        if push:
            self.known[slot] = self.version[slot]
            self.driver.pushed(self.now, SlotUpdate(slot, self.lock.reading(slot, self.now)))

    @rule(slot=st.sampled_from(ALL), pin=st.none() | st.sampled_from(PINS), enabled=st.booleans())
    def take(self, slot: int, pin: str | None, enabled: bool) -> None:
        want = Desired(enabled=enabled, pin=Pin(pin) if pin else None)
        if slot in self.driver.machines:
            with pytest.raises(ValueError, match="already managed"):
                self.driver.take(self.now, slot, want)
            return
        revived = self.in_flight is not None and self.in_flight[0] == Operate(slot)
        self.driver.take(self.now, slot, want)
        self.desired[slot] = pin if enabled else None
        # a slot released while its write is in flight gets that machine back
        assert self.driver.machine(slot).state in ((SYNCING,) if revived else (LOADING, SUSP))
        assert slot not in self.driver.unmanaged

    @rule(slot=st.sampled_from(ALL))
    def release(self, slot: int) -> None:
        if slot not in self.driver.machines:
            with pytest.raises(KeyError):
                self.driver.release(slot)
            return
        self.driver.release(slot)
        del self.desired[slot]
        with pytest.raises(KeyError):
            self.driver.retry_at(self.now, slot)

    @rule(slots=st.sets(st.sampled_from(ALL)))
    def survey(self, slots: set[int]) -> None:
        reach = self.driver.reach
        if slots & set(self.driver.machines):
            with pytest.raises(ValueError, match="managed"):
                self.driver.request_survey(self.now, slots)
            return
        if not reach.reachable and slots:
            with pytest.raises(LockDisconnected):
                self.driver.request_survey(self.now, slots)
            return
        survey = self.driver.request_survey(self.now, slots)
        assert (survey is None) == (not slots)
        if survey is not None:
            self.asked[survey.request] = survey

    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        waiting = [r for r in self.asked if r not in self.answers and r not in self.withdrawn]
        if waiting:
            request = data.draw(st.sampled_from(waiting))
            self.withdrawn.add(request)
            self.driver.withdraw_survey(self.asked[request])

    @invariant()
    def unmanaged_readings_name_no_managed_slot(self) -> None:
        if hasattr(self, "driver"):
            assert not set(self.driver.unmanaged) & set(self.driver.machines)

    # -- the worker ------------------------------------------------------------------------

    @precondition(lambda self: self.in_flight is None)
    @rule()
    def start_work(self) -> None:
        work = self.driver.next_work(self.now)
        if work is None:
            return
        if isinstance(work, Survey):
            assert self.driver.reach.reachable, "a survey of an unreachable lock"
        if isinstance(work, Probe):
            assert not self.driver.machines and not self.driver.reach.reachable
            event("the probe of a lock with no managed slot")
        operation = self.driver.begin(self.now, work.slot) if isinstance(work, Operate) else None
        self.in_flight = (work, operation)

    @precondition(lambda self: self.in_flight is not None)
    @rule(
        fault=FAULTS,
        lands=st.booleans(),
        ambiguous=st.booleans(),
        lag=st.booleans(),
        latency=st.floats(0, 3),
        skip=st.booleans(),
    )
    def finish_work(
        self, fault: str, lands: bool, ambiguous: bool, lag: bool, latency: float, skip: bool
    ) -> None:
        assert self.in_flight is not None
        work, operation = self.in_flight
        self.in_flight = None
        self.now += latency
        if self.driver.abandoned(work):
            event(f"abandoned {type(work).__name__}: {'dropped' if skip else 'sent'}")
            if skip:  # abandoned while it waited its turn: not sent
                self.driver.drop(work)
                return
        self.perform(work, operation, fault, lands=lands, ambiguous=ambiguous, lag=lag)

    def perform(
        self,
        work: Work,
        operation: Operation | None,
        fault: str,
        *,
        lands: bool,
        ambiguous: bool,
        lag: bool,
    ) -> None:
        """Carry ``work`` out against the fake lock and hand the outcome over; then apply the
        deadlines that passed meanwhile, as the engine's worker does (its next ``next_work``
        ticks first, with no checkpoint in between)."""
        self._perform(work, operation, fault, lands=lands, ambiguous=ambiguous, lag=lag)
        self.driver.tick(self.now)

    def _perform(
        self,
        work: Work,
        operation: Operation | None,
        fault: str,
        *,
        lands: bool,
        ambiguous: bool,
        lag: bool,
    ) -> None:
        error: Exception | None = {
            "disconnect": LockDisconnected("gone"),
            "failed": LockOperationFailed("jammed"),
            "rejected": CodeRejected("no") if operation is not None else None,
            "unexpected": Boom(),
        }.get(fault)
        driver, now = self.driver, self.now
        if isinstance(work, Operate):
            assert operation is not None
            slot = work.slot
            if error is not None:
                driver.write_failed(now, slot, error)
                return
            if operation.kind is OpKind.SET:
                pin = operation.pin.reveal()
                result: object = self.lock.set(
                    slot, pin, now, lands=lands, ambiguous=ambiguous, lag=lag
                )
            else:
                result = self.lock.clear(slot)
            self.known[slot] = self.version[slot]
            driver.written(now, slot, None if fault == "garbage" else result)
            return
        reading = {slot: self.lock.reading(slot, now) for slot in work.slots}
        if isinstance(work, Survey):
            expected: object = LockOperationFailed("")  # also a provider bug's outcome
            if error is None and fault != "garbage":
                expected = reading
            elif isinstance(error, LockDisconnected):
                expected = error
            self.expected[work.request] = expected
        if error is not None:
            driver.read_failed(now, work, error)
            return
        if fault == "garbage":
            driver.read(now, work, list(reading.values()))  # the engine learns nothing
            return
        for slot in work.slots:
            self.known[slot] = self.version[slot]
        driver.read(now, work, reading)

    # -- refused inputs --------------------------------------------------------------------

    @invariant()
    def refused_inputs_change_nothing(self) -> None:
        """Every input the slot's state does not take raises InvalidTransition and changes
        nothing (tried on every slot after every step)."""
        if not hasattr(self, "driver"):
            return
        for m in self.driver.machines.values():
            syncing = m.state is SYNCING
            unreachable = m.state is SUSP and m.reason.startswith("lock unreachable")
            due = m.need.kind is NeedKind.OPERATION and self.now >= m.need.not_before
            calls = [
                (not due, lambda m=m: m.begin(self.now)),
                (not syncing, lambda m=m: m.written(self.now, WriteResult.CONFIRMED)),
                (not syncing, lambda m=m: m.failed(self.now, Failure.FAILED, "x")),
                (not syncing, lambda m=m: m.unverified(self.now, "x")),
                (syncing, lambda m=m: m.lock_unreachable(self.now, "x")),
                (not unreachable, lambda m=m: m.lock_reachable(self.now)),
                (m.state is not PEND, lambda m=m: m.read_back(self.now, SlotCredential.empty())),
            ]
            for refused, call in calls:
                if refused:
                    before = m.snapshot()
                    with pytest.raises(InvalidTransition):
                        call()
                    assert m.snapshot() == before

    # -- the truth -------------------------------------------------------------------------

    def holds_desired(self, slot: int) -> bool:
        return self.lock.codes.get(slot) == self.desired[slot]

    def excused(self, slot: int, reason: str) -> bool:
        if self.known[slot] != self.version[slot]:
            return True  # a keypad change the engine has not seen
        pin, when = self.lock.accepted.get(slot, (None, -math.inf))
        return reason.startswith(TRUSTING) and pin == self.desired[slot] and self.now < when + TTL

    @invariant()
    def in_sync_is_truthful(self) -> None:
        if not hasattr(self, "driver"):
            return
        for slot, m in self.driver.machines.items():
            if m.state is IN and not self.excused(slot, m.reason):
                assert self.holds_desired(slot), (slot, m.reason, self.lock.codes, self.desired)

    def teardown(self) -> None:
        """The lock stops changing (no faults, no keypad): the driver runs on its own."""
        if not hasattr(self, "driver"):
            return
        if self.in_flight is not None:
            work, operation = self.in_flight
            self.perform(work, operation, "none", lands=True, ambiguous=False, lag=False)
        end = self.now + 4 * 3600
        while self.now < end or not self.driver.settled():
            assert self.now < end + 3600, "never settled"
            work = self.driver.next_work(self.now)
            if work is None:
                deadline = self.driver.next_deadline()
                self.now = max(self.now, min(deadline, end) if self.now < end else deadline)
                continue
            operation = (
                self.driver.begin(self.now, work.slot) if isinstance(work, Operate) else None
            )
            self.now += 2.0  # spacing
            self.perform(work, operation, "none", lands=True, ambiguous=True, lag=False)
            self.in_sync_is_truthful()
        unanswered = set(self.asked) - set(self.answers) - self.withdrawn
        assert not unanswered, "a survey never answered"
        for slot, m in self.driver.machines.items():
            assert m.state in (IN, SUSP), (slot, m.state, m.reason)
            if m.state is IN:
                assert self.holds_desired(slot), (slot, m.reason)
            if (
                self.lock.never_lands
                and self.desired[slot] is not None
                and not self.holds_desired(slot)
            ):
                assert m.state is SUSP, (slot, m.state, m.reason)


SlotHarness.TestCase.settings = settings(
    max_examples=1000,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_slot_machine_harness = SlotHarness.TestCase
