"""Adopting a slot that holds a masked code (issue 19): on a lock whose sets answer OPTIMISTIC,
clear, then set — never set, clear, set; on a lock whose sets answer CONFIRMED, a plain set.

A set over a masked code that the lock answers OPTIMISTIC can never be verified: the read-back
shows a masked code whether the set landed or not. A set answered CONFIRMED proves itself. So a
slot that shows a masked code not known to be ours is cleared first and then written unless the
lock's last answer to a set was CONFIRMED (until it has answered one, it is taken as OPTIMISTIC).
Every provider call is counted here against :class:`VirtualLock` through :func:`open_lock_sync`.

Per masked slot not known to be ours, with its reads: OPTIMISTIC lock, before the fix a set, a
read-back, a clear, a set, a read-back; now a clear, a set, a read-back. CONFIRMED lock, before
this refinement a clear and a set on every slot; now a clear and a set on the first one, a set on
each after it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_locksync import Pin, open_store
from trio_locksync.core import CircuitBreaker, InvalidTransition
from trio_locksync.credentials import (
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
)
from trio_locksync.credentials._driver import FullRead, SyncDriver
from trio_locksync.credentials._effects import Charged, Failure, OpKind
from trio_locksync.credentials._engine import LockSync, open_lock_sync
from trio_locksync.credentials._knowledge import WriteEvidence
from trio_locksync.credentials._memory import WrittenMemory
from trio_locksync.credentials._rules import Desired
from trio_locksync.credentials._slot import SlotMachine, SlotPolicy
from trio_locksync.testing import VirtualLock

from .storehelpers import run_inline

IN, OUT, SUSP = SyncState.IN_SYNC, SyncState.OUT_OF_SYNC, SyncState.SUSPENDED
PEND, SYNCING = SyncState.PENDING_CONFIRMATION, SyncState.SYNCING


class Call(enum.Enum):
    """One provider call, as the lock saw it."""

    #: a read (the engine never reads the whole lock: a full read names the managed slots, so
    #: with one managed slot it is the same call as a read-back)
    READ = "read"
    SET = "set"
    CLEAR = "clear"


class Counted:
    """A provider around a VirtualLock that records every call in order. ``ignores_clears``:
    the lock answers OPTIMISTIC to a clear and keeps the code; ``write_only``: reads say
    nothing; ``optimistic_after``: from that many sets on, the lock answers sets OPTIMISTIC."""

    def __init__(self, lock: VirtualLock) -> None:
        self.lock = lock
        self.calls: list[Call] = []
        self.ignores_clears = False
        self.write_only = False
        self.optimistic_after = math.inf

    @property
    def supports_push(self) -> bool:
        return False

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        assert slots is not None, "the engine never walks the whole lock"
        self.calls.append(Call.READ)
        result = await self.lock.read_slots(slots)
        return {} if self.write_only else result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        if self.calls.count(Call.SET) >= self.optimistic_after:
            self.lock.optimistic = 1.0
        self.calls.append(Call.SET)
        return await self.lock.set_code(slot, pin)

    async def clear_code(self, slot: int) -> WriteResult:
        self.calls.append(Call.CLEAR)
        if self.ignores_clears:
            await trio.lowlevel.checkpoint()
            return WriteResult.OPTIMISTIC
        return await self.lock.clear_code(slot)

    def updates(self) -> AsyncIterator[SlotUpdate]:  # pragma: no cover - push is off
        raise AssertionError


def writes(provider: Counted) -> list[Call]:
    return [c for c in provider.calls if c in (Call.SET, Call.CLEAR)]


async def settle(engine: LockSync) -> None:
    with trio.fail_after(10_000):
        await engine.wait_settled()


# -- the engine, counted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimistic", "calls"),
    [
        # the usual masked lock: its answers are ambiguous, each write is read back
        (1.0, [Call.READ, Call.CLEAR, Call.SET, Call.READ]),
        # a masked lock that confirms its writes: nothing to read back; cleared first all the
        # same, since it has answered no set yet
        (0.0, [Call.READ, Call.CLEAR, Call.SET]),
    ],
)
async def test_masked_code_not_ours_is_cleared_then_set_once(
    autojump_clock: trio.abc.Clock, optimistic: float, calls: list[Call]
) -> None:
    provider = Counted(VirtualLock(slots=2, masked=True, optimistic=optimistic, seed=1))
    provider.lock.codes[1] = "9999"  # someone else's code, masked
    async with open_lock_sync(provider, {1: "1234"}) as engine:
        await settle(engine)
        await trio.sleep(600)  # nothing more happens before the drift read
        assert engine.state(1) is IN
        assert provider.calls == calls
        stats = engine.statistics()
        assert (stats.sets, stats.clears, stats.slot_failures) == (1, 1, 0)
        assert stats.confirmed_by_read == (1 if optimistic else 0)
    lock_stats = provider.lock.statistics()
    assert (lock_stats.writes, lock_stats.clears) == (1, 1)
    assert provider.lock.codes == {1: "1234"}


THREE = {1: "1234", 2: "2345", 3: "3456"}


@pytest.mark.parametrize(
    ("optimistic", "calls"),
    [
        # every slot: clear, set, read-back (a set over a masked code could not be verified)
        (1.0, [Call.READ, *[Call.CLEAR, Call.SET, Call.READ] * 3]),
        # nothing known of the lock's answers at first: the first slot is cleared; its set is
        # CONFIRMED, so the others are set directly
        (0.0, [Call.READ, Call.CLEAR, Call.SET, Call.SET, Call.SET]),
    ],
)
async def test_masked_slots_of_a_lock_that_confirms_are_set_after_the_first(
    autojump_clock: trio.abc.Clock, optimistic: float, calls: list[Call]
) -> None:
    provider = Counted(VirtualLock(slots=4, masked=True, optimistic=optimistic, seed=1))
    provider.lock.codes.update({1: "9991", 2: "9992", 3: "9993"})  # someone else's, masked
    async with open_lock_sync(provider, THREE) as engine:
        await settle(engine)
        await trio.sleep(600)  # nothing more happens before the drift read
        assert [engine.state(s) for s in THREE] == [IN, IN, IN]
        assert provider.calls == calls
        stats = engine.statistics()
        clears = 3 if optimistic else 1
        assert (stats.sets, stats.clears, stats.slot_failures) == (3, clears, 0)
    lock_stats = provider.lock.statistics()
    assert (lock_stats.writes, lock_stats.clears) == (3, clears)
    assert provider.lock.codes == THREE


async def test_a_confirmed_set_on_an_empty_slot_spares_the_masked_slots_a_clear(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Any set the lock confirmed shows how it answers: slot 1 (empty) comes first."""
    provider = Counted(VirtualLock(slots=4, masked=True, optimistic=0.0, seed=1))
    provider.lock.codes.update({2: "9992", 3: "9993"})
    async with open_lock_sync(provider, THREE) as engine:
        await settle(engine)
        assert [engine.state(s) for s in THREE] == [IN, IN, IN]
        assert provider.calls == [Call.READ, Call.SET, Call.SET, Call.SET]
    assert provider.lock.codes == THREE


async def test_the_last_answer_counts_when_a_lock_stops_confirming(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Slot 1: clear, set (CONFIRMED). Slot 2 is set directly, but the lock now answers
    OPTIMISTIC: its read-back cannot tell, so it is cleared and set again (uncharged). Slot 3
    is cleared first: the lock's last answer to a set was OPTIMISTIC."""
    provider = Counted(VirtualLock(slots=4, masked=True, optimistic=0.0, seed=1))
    provider.lock.codes.update({1: "9991", 2: "9992", 3: "9993"})
    provider.optimistic_after = 1
    async with open_lock_sync(provider, THREE) as engine:
        await settle(engine)
        assert [engine.state(s) for s in THREE] == [IN, IN, IN]
        attempt = [Call.CLEAR, Call.SET, Call.READ]
        assert provider.calls == [
            Call.READ,
            *[Call.CLEAR, Call.SET],
            *[Call.SET, Call.READ, *attempt],
            *attempt,
        ]
        assert engine.statistics().slot_failures == 0
    assert provider.lock.codes == THREE


async def test_the_clear_is_planned_from_the_first_reading(autojump_clock: trio.abc.Clock) -> None:
    """No set comes first, and the slot is empty only between the clear and the set."""
    provider = Counted(VirtualLock(slots=2, masked=True, optimistic=1.0, seed=1))
    provider.lock.codes[1] = "9999"
    seen: list[tuple[float, SyncState, str]] = []

    async def record(engine: LockSync) -> None:
        async for change in engine.changes():
            seen.append((trio.current_time(), change.state, change.reason))

    async with open_lock_sync(provider, {1: "1234"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(record, engine)
        await settle(engine)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    # read at 0: the clear is the first operation (made at 2, after the spacing); set at 4
    # (answered OPTIMISTIC); read back at 6: confirmed
    assert seen == [
        (0.0, OUT, "differs from the desired code"),
        (0.0, SYNCING, "clearing before rewriting a masked code"),
        (2.0, OUT, "differs from the desired code"),
        (2.0, SYNCING, "writing"),
        (4.0, PEND, "optimistic write awaiting confirmation"),
        (6.0, IN, "in sync"),
    ]


async def test_masked_code_remembered_as_ours_costs_no_write(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    provider = Counted(VirtualLock(slots=2, masked=True, optimistic=1.0, seed=1))
    provider.lock.codes[1] = "9999"
    async with open_store(tmp_path / "memory.json", run_blocking=run_inline) as store:
        async with open_lock_sync(provider, {1: "1234"}, store=store) as engine:
            await settle(engine)
        provider.calls.clear()
        async with open_lock_sync(provider, {1: "1234"}, store=store) as engine:
            await settle(engine)
            await trio.sleep(600)
            assert engine.state(1) is IN
            assert provider.calls == [Call.READ]
            assert (engine.statistics().sets, engine.statistics().clears) == (0, 0)


async def test_masked_code_when_the_slot_should_be_empty_is_one_clear(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Counted(VirtualLock(slots=2, masked=True, optimistic=1.0, seed=1))
    provider.lock.codes[1] = "9999"
    async with open_lock_sync(provider, {1: None}) as engine:
        await settle(engine)
        await trio.sleep(600)
        assert engine.state(1) is IN
        assert provider.calls == [Call.READ, Call.CLEAR]
    assert provider.lock.codes == {}


@pytest.mark.parametrize("optimistic", [0.0, 1.0])
async def test_readable_different_code_is_one_set_without_a_clear(
    autojump_clock: trio.abc.Clock, optimistic: float
) -> None:
    provider = Counted(VirtualLock(slots=2, optimistic=optimistic, seed=1))
    provider.lock.codes[1] = "9999"
    async with open_lock_sync(provider, {1: "1234"}) as engine:
        await settle(engine)
        await trio.sleep(600)
        assert engine.state(1) is IN
        assert writes(provider) == [Call.SET]
    assert provider.lock.codes == {1: "1234"}


async def test_write_only_lock_is_set_without_a_clear(autojump_clock: trio.abc.Clock) -> None:
    """A slot a full read says nothing of is taken as masked, but not cleared first: no read-back
    can tell anything on such a lock, so a clear would only cost a write."""
    provider = Counted(VirtualLock(slots=2, optimistic=1.0, seed=1))
    provider.lock.codes[1] = "9999"
    provider.write_only = True
    async with open_lock_sync(provider, {1: "1234"}, believed=True) as engine:
        await settle(engine)
        assert engine.state(1) is IN
        assert provider.calls == [Call.READ, Call.SET, Call.READ]


async def test_a_lock_that_ignores_the_clear_is_charged_and_suspends_without_a_loop(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The clear answers OPTIMISTIC and the read-back still shows the masked code: the clear
    waits for its deadline and is charged there (the breaker's rules); each retry is a clear
    again (the code may still be there, a set over it could not be verified), never a set; three
    charges suspend the slot, and nothing more is tried until the suspended retry (a clear)."""
    provider = Counted(VirtualLock(slots=2, masked=True, seed=1))
    provider.lock.codes[1] = "9999"
    provider.ignores_clears = True
    async with open_lock_sync(provider, {1: "1234"}) as engine:
        await settle(engine)
        assert engine.state(1) is SUSP
        # clear at 2, read back at 4, charged at 62; retried at 64, 126: suspended at 186
        assert trio.current_time() == 186.0
        assert engine.reason(1).startswith("sync attempts exceeded (3 failures")
        attempt = [Call.CLEAR, Call.READ]
        assert provider.calls == [Call.READ, *attempt, *attempt, *attempt]
        assert engine.statistics().slot_failures == 3
        before = len(provider.calls)
        await trio.sleep(3000)  # drift reads only, until the retry in 1 h
        assert writes(provider) == [Call.CLEAR] * 3
        assert all(c is Call.READ for c in provider.calls[before:])
        await trio.sleep(700)  # the retry at 3786 probes with a clear too, never a set
        assert writes(provider) == [Call.CLEAR] * 4
    assert provider.lock.codes == {1: "9999"}


# -- the sans-I/O machine -------------------------------------------------------------------------


def machine(desired: str | None) -> SlotMachine:
    return SlotMachine(
        1,
        Desired(enabled=desired is not None, pin=Pin(desired) if desired else None),
        salt=b"salt",
        last_written=None,
        breaker=CircuitBreaker(),
        policy=SlotPolicy(pending_ttl=60.0, retry_interval=2.0),
    )


def test_machine_plans_a_clear_first_from_a_masked_reading() -> None:
    m = machine("1234")
    m.observe(0.0, SlotCredential.unreadable())
    operation, _ = m.begin(0.0)
    assert operation.kind is OpKind.CLEAR_FIRST
    with pytest.raises(InvalidTransition):
        m.begin(0.0)  # an operation is already in flight
    m.written(1.0, WriteResult.CONFIRMED)
    assert m.state is OUT
    operation, _ = m.begin(1.0)
    assert operation.kind is OpKind.SET
    m.written(2.0, WriteResult.OPTIMISTIC)
    m.observe(3.0, SlotCredential.unreadable())  # present after a clear: confirmed
    assert m.state is IN


@pytest.mark.parametrize(
    ("reading", "desired", "kind"),
    [
        (SlotCredential.known("9999"), "1234", OpKind.SET),
        (SlotCredential.empty(), "1234", OpKind.SET),
        (SlotCredential.unreadable(), None, OpKind.CLEAR),
    ],
)
def test_machine_plans_no_clear_first_otherwise(
    reading: SlotCredential, desired: str | None, kind: OpKind
) -> None:
    m = machine(desired)
    m.observe(0.0, reading)
    assert m.begin(0.0)[0].kind is kind


def test_machine_keeps_the_plan_through_a_failed_clear() -> None:
    m = machine("1234")
    m.observe(0.0, SlotCredential.unreadable())
    m.begin(0.0)
    m.written(1.0, WriteResult.OPTIMISTIC)
    m.observe(2.0, SlotCredential.unreadable())  # the clear did not take: wait for the deadline
    assert m.state is PEND
    effects = m.tick(61.0)
    assert m.state is OUT
    assert [e for e in effects if isinstance(e, Charged)] == [
        Charged("optimistic write never confirmed")
    ]
    # a plan made stays: a set elsewhere answered CONFIRMED meanwhile changes nothing
    assert m.begin(math.inf, writes=WriteEvidence.CONFIRMS)[0].kind is OpKind.CLEAR_FIRST


@pytest.mark.parametrize(
    ("writes", "kind"),
    [
        (WriteEvidence.UNKNOWN, OpKind.CLEAR_FIRST),
        (WriteEvidence.OPTIMISTIC, OpKind.CLEAR_FIRST),
        (WriteEvidence.CONFIRMS, OpKind.SET),
    ],
)
def test_machine_decides_the_clear_when_the_write_begins(
    writes: WriteEvidence, kind: OpKind
) -> None:
    m = machine("1234")
    m.observe(0.0, SlotCredential.unreadable())
    assert m.begin(0.0, writes=writes)[0].kind is kind


def test_machine_set_over_a_masked_code_answered_optimistic_clears_next() -> None:
    """The lock confirmed sets before, but answers this one OPTIMISTIC: the read-back cannot
    tell (uncharged), and the clear comes next whatever the lock showed before."""
    m = machine("1234")
    m.observe(0.0, SlotCredential.unreadable())
    assert m.begin(0.0, writes=WriteEvidence.CONFIRMS)[0].kind is OpKind.SET
    m.written(1.0, WriteResult.OPTIMISTIC)
    effects = m.observe(2.0, SlotCredential.unreadable())
    assert m.state is OUT
    assert not [e for e in effects if isinstance(e, Charged)]
    assert m.begin(2.0, writes=WriteEvidence.CONFIRMS)[0].kind is OpKind.CLEAR_FIRST


def test_machine_keeps_the_masked_plan_through_a_failed_set() -> None:
    m = machine("1234")
    m.observe(0.0, SlotCredential.unreadable())
    assert m.begin(0.0, writes=WriteEvidence.CONFIRMS)[0].kind is OpKind.SET
    m.failed(1.0, Failure.FAILED, "jammed")
    assert m.state is OUT
    assert m.begin(math.inf, writes=WriteEvidence.OPTIMISTIC)[0].kind is OpKind.CLEAR_FIRST


@pytest.mark.parametrize(
    ("before", "answer", "after"),
    [
        (WriteEvidence.UNKNOWN, WriteResult.CONFIRMED, WriteEvidence.CONFIRMS),
        (WriteEvidence.CONFIRMS, WriteResult.OPTIMISTIC, WriteEvidence.OPTIMISTIC),
        (WriteEvidence.OPTIMISTIC, WriteResult.CONFIRMED, WriteEvidence.CONFIRMS),
        (WriteEvidence.UNKNOWN, WriteResult.NO_CHANGE, WriteEvidence.UNKNOWN),
        (WriteEvidence.CONFIRMS, WriteResult.NO_CHANGE, WriteEvidence.CONFIRMS),
    ],
)
def test_write_evidence_is_the_last_answer_to_a_set(
    before: WriteEvidence, answer: WriteResult, after: WriteEvidence
) -> None:
    assert before.after(answer) is after


def test_driver_learns_from_answers_to_sets_only() -> None:
    """A clear's answer says nothing of how the lock answers sets; a failure says nothing; a
    set answered with something that is not a WriteResult counts as OPTIMISTIC."""
    driver = SyncDriver(
        {1: Desired(enabled=True, pin=Pin("1234")), 2: Desired(enabled=True, pin=Pin("2345"))},
        memory=WrittenMemory(b"salt", {}, None),
        emit=lambda change: None,
        policy=SlotPolicy(pending_ttl=60.0, retry_interval=2.0),
        retry_interval=2.0,
        drift_interval=600.0,
    )
    driver.read(
        0.0, FullRead((1, 2)), {1: SlotCredential.unreadable(), 2: SlotCredential.unreadable()}
    )
    seen = [driver.write_evidence]
    assert driver.begin(0.0, 1).kind is OpKind.CLEAR_FIRST
    driver.written(1.0, 1, WriteResult.CONFIRMED)
    seen.append(driver.write_evidence)  # a clear
    assert driver.begin(1.0, 1).kind is OpKind.SET
    driver.write_failed(2.0, 1, LockOperationFailed("jammed"))
    seen.append(driver.write_evidence)  # a failure
    assert driver.begin(2.0, 2).kind is OpKind.CLEAR_FIRST
    driver.written(3.0, 2, WriteResult.CONFIRMED)
    assert driver.begin(3.0, 2).kind is OpKind.SET
    driver.written(4.0, 2, WriteResult.CONFIRMED)
    seen.append(driver.write_evidence)
    assert driver.machine(2).state is IN
    # slot 1 was cleared before its set failed: the set is tried again
    assert driver.begin(4.0 + 2.0, 1).kind is OpKind.SET
    driver.written(7.0, 1, None)  # a provider bug
    seen.append(driver.write_evidence)
    E = WriteEvidence
    assert seen == [E.UNKNOWN, E.UNKNOWN, E.UNKNOWN, E.CONFIRMS, E.OPTIMISTIC]


def test_unreported_slot_plans_a_set() -> None:
    m = machine("1234")
    m.unreported(0.0)
    assert m.state is OUT
    assert m.begin(0.0)[0].kind is OpKind.SET


def test_a_full_read_that_leaves_a_pending_slot_out_does_not_confirm_its_write() -> None:
    """A set over an empty slot awaits its read-back; a full read that says nothing of the slot
    (the lock did not answer for it in time) is no reading: the write waits for its deadline,
    never IN_SYNC on silence (found in review: it was taken as a masked code, which confirms
    a set over an empty slot)."""
    m = machine("1234")
    m.observe(0.0, SlotCredential.empty())
    m.begin(0.0)
    m.written(1.0, WriteResult.OPTIMISTIC)
    assert m.state is PEND
    m.unreported(2.0)
    assert m.state is PEND
    m.observe(3.0, SlotCredential.known("1234"))
    assert m.state is IN
