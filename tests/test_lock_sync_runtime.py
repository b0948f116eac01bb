"""Issue 22: what an access plan asks of a LockSync at run time — slots taken and released,
surveys of slots it does not manage, unmanaged readings, reachability, retry times, lock events
— and reads that never walk the whole lock. Virtual time (``autojump_clock``), exact times and
exact provider calls (defaults: operation_spacing 2 s, retry_interval 2 s, pending_ttl 60 s,
drift_interval 3600 s). Tests named after a race pin that race down."""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator, Collection
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_locksync import LockSyncError, Pin, open_store
from trio_locksync.credentials import (
    LockDisconnected,
    LockEvent,
    LockOperationFailed,
    LockSync,
    SlotChange,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
    open_lock_sync,
)
from trio_locksync.testing import VirtualLock

from .storehelpers import run_inline

IN, OUT, SUSP = SyncState.IN_SYNC, SyncState.OUT_OF_SYNC, SyncState.SUSPENDED
LOADING, SYNCING, PEND = SyncState.LOADING, SyncState.SYNCING, SyncState.PENDING_CONFIRMATION
EMPTY, MASKED = SlotCredential.empty(), SlotCredential.unreadable()


class Recording:
    """A VirtualLock as the engine sees it, every call recorded as (trio time, call, slots);
    no ``events()`` (a provider that reports no lock events)."""

    def __init__(self, lock: VirtualLock) -> None:
        self.lock = lock
        self.calls: list[tuple[float, str, Any]] = []

    @property
    def supports_push(self) -> bool:
        return self.lock.supports_push

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        self.calls.append((trio.current_time(), "read", None if slots is None else sorted(slots)))
        return await self.lock.read_slots(slots)

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        self.calls.append((trio.current_time(), "set", slot))
        return await self.lock.set_code(slot, pin)

    async def clear_code(self, slot: int) -> WriteResult:
        self.calls.append((trio.current_time(), "clear", slot))
        return await self.lock.clear_code(slot)

    def updates(self) -> AsyncIterator[SlotUpdate]:
        return self.lock.updates()

    def reads(self) -> list[Any]:
        return [slots for _, call, slots in self.calls if call == "read"]


class WithEvents(Recording):
    def events(self) -> AsyncIterator[LockEvent]:
        return self.lock.events()


async def settle(engine: LockSync) -> None:
    with trio.fail_after(100_000):
        await engine.wait_settled()


async def record(engine: LockSync, into: list[tuple[float, SlotChange]]) -> None:
    async for change in engine.changes():
        into.append((trio.current_time(), change))


# -- take ----------------------------------------------------------------------------------------


async def test_a_slot_taken_at_run_time_is_read_alone_then_written_and_verified(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=30, optimistic=1.0, seed=1))
    changes: list[tuple[float, SlotChange]] = []
    async with open_lock_sync(provider, {1: "1111"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(record, engine, changes)
        await settle(engine)  # read 0, set 2 (OPTIMISTIC), read back 4
        assert trio.current_time() == 4
        engine.take(7, "7777")
        assert (engine.state(7), engine.slots) == (LOADING, [1, 7])
        assert engine.retry_at(7) == 4  # its first read is due now
        await settle(engine)  # read 6 (slot 7 alone), set 8, read back 10
        assert trio.current_time() == 10
        assert engine.state(7) is IN
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert provider.calls == [
        (0, "read", [1]),
        (2, "set", 1),
        (4, "read", [1]),
        (6, "read", [7]),
        (8, "set", 7),
        (10, "read", [7]),
    ]
    assert [(t, c) for t, c in changes if c.slot == 7] == [
        (4, SlotChange(7, LOADING, "waiting for the first read")),
        (6, SlotChange(7, OUT, "differs from the desired code")),
        (6, SlotChange(7, SYNCING, "writing")),
        (8, SlotChange(7, PEND, "optimistic write awaiting confirmation")),
        (10, SlotChange(7, IN, "in sync")),
    ]
    assert provider.lock.codes == {1: "1111", 7: "7777"}
    stats = engine.statistics()
    assert (stats.reads, stats.sets, stats.confirmed_by_read) == (4, 2, 2)


async def test_slots_taken_together_share_one_first_read(autojump_clock: trio.abc.Clock) -> None:
    provider = Recording(VirtualLock(slots=30, seed=1))
    async with open_lock_sync(provider, {1: None}) as engine:
        await settle(engine)
        for slot in (9, 3, 5):
            engine.take(slot, None)
        await settle(engine)
        assert trio.current_time() == 2
    assert provider.reads() == [[1], [3, 5, 9]]


async def test_a_masked_slot_remembered_as_ours_is_taken_without_a_rewrite(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    provider = Recording(VirtualLock(slots=30, masked=True, optimistic=1.0, seed=1))
    async with open_store(tmp_path / "memory.json", run_blocking=run_inline) as store:
        async with open_lock_sync(provider, {1: None, 5: "5555"}, store=store) as engine:
            await settle(engine)  # read 0, set 2 (OPTIMISTIC), read back 4
        assert provider.lock.codes == {5: "5555"}
        provider.calls.clear()
        # a plan restarts: its engine manages slot 1 from the start and takes slot 5 back
        async with open_lock_sync(provider, {1: None}, store=store) as engine:
            await settle(engine)
            engine.take(5, "5555")
            await settle(engine)
            assert engine.state(5) is IN
            assert (engine.statistics().sets, engine.statistics().clears) == (0, 0)
    assert provider.calls == [(4, "read", [1]), (6, "read", [5])]


async def test_take_and_release_refuse_what_they_cannot_do(autojump_clock: trio.abc.Clock) -> None:
    async with open_lock_sync(VirtualLock(slots=4, seed=1), {1: None}) as engine:
        with pytest.raises(ValueError, match="slot 1 is already managed"):
            engine.take(1, "1111")
        with pytest.raises(ValueError, match="slot numbers are >= 0"):
            engine.take(-1, "1111")
        with pytest.raises(TypeError, match="must be an int"):
            engine.take("2", "1111")  # type: ignore[arg-type]
        with pytest.raises(KeyError, match="slot 2 is not managed"):
            engine.release(2)
        with pytest.raises(KeyError, match="slot 2 is not managed"):
            engine.retry_at(2)
        assert engine.slots == [1]


async def test_a_slot_taken_while_the_lock_is_unreachable_waits_for_the_probe(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=30, seed=1))
    provider.lock.online = False
    async with open_lock_sync(provider, {1: None}) as engine:
        await trio.sleep(5)  # reads at 0, 2, 4 fail: unreachable, probe at 64
        assert not engine.reachable
        engine.take(2, "2222")
        assert engine.state(2) is SUSP
        assert engine.retry_at(2) == 64
        provider.lock.online = True
        await trio.sleep_until(65)  # the probe reads both slots at 64
        await settle(engine)  # set at 66
        assert trio.current_time() == 66
    assert provider.reads() == [[1], [1], [1], [1, 2]]
    assert provider.lock.codes == {2: "2222"}


# -- release ---------------------------------------------------------------------------------


async def test_release_before_its_write_is_sent_sends_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=4, seed=1))
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        await trio.sleep(1)  # read at 0; the set waits for the spacing (due at 2)
        assert engine.state(1) is SYNCING
        engine.release(1)
        await trio.sleep(100)
        assert engine.slots == []
        assert (engine.statistics().sets, engine.statistics().operations) == (0, 1)
    assert provider.calls == [(0, "read", [1])]
    assert provider.lock.codes == {}


async def test_release_while_its_write_is_in_flight_ignores_the_outcome_without_a_key_error(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    """Was (while written): the outcome of a released slot's write looked the slot up in the
    driver and raised KeyError, ending the engine."""
    provider = Recording(VirtualLock(slots=4, latency=1.0, seed=1))
    changes: list[tuple[float, SlotChange]] = []
    async with (
        open_store(tmp_path / "memory.json", run_blocking=run_inline) as store,
        open_lock_sync(provider, {1: "1111", 2: "2222"}, store=store) as engine,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(record, engine, changes)
        await trio.sleep(2.5)  # read 0-1; the set of slot 1 is under way (2-3)
        engine.release(1)
        await settle(engine)  # slot 2: set 4-5
        assert trio.current_time() == 5
        assert engine.slots == [2]
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
        await store.flush()
        assert sorted((await store.load())["last_written"]) == ["2"]  # slot 1's is forgotten
    assert [t for t, c in changes if c.slot == 1] == [1, 1]  # OUT, SYNCING; nothing after
    assert provider.lock.codes == {1: "1111", 2: "2222"}  # it landed, unmanaged now
    assert engine.unmanaged() == {}  # not read since


async def test_slot_taken_again_while_its_released_write_is_in_flight_is_judged_on_that_write(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Found by the driver's harness: a write in flight for a released slot landed after the
    slot was taken again by a new machine, which had already judged it IN_SYNC (empty) from a
    push. Now the slot gets that operation's machine back, which knows of the write."""
    lock = VirtualLock(slots=4, latency=1.0, push=True, seed=1)
    changes: list[tuple[float, SlotChange]] = []
    async with open_lock_sync(lock, {1: "1111"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(record, engine, changes)
        await trio.sleep(2.5)  # read 0-1; the set of 1111 is under way (2-3)
        engine.release(1)
        engine.take(1, None)
        lock.keypad_clear(1)  # pushed empty, before the set lands
        await settle(engine)  # the set lands at 3; cleared 4-5
        assert trio.current_time() == 5
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert [(t, c.state, c.reason) for t, c in changes if t > 2] == [
        (2.5, SYNCING, "writing"),  # taken again: the write's machine
        (3, OUT, "differs from the desired code"),  # the set landed; the slot should be empty
        (3, SYNCING, "clearing"),
        (5, IN, "in sync"),
    ]
    assert lock.codes == {}


async def test_slot_taken_again_soon_after_a_set_distrusts_an_empty_reading_of_a_lagging_lock(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Found by the driver's harness: a slot released just after the engine set it, taken again
    wanting no code, read empty on a lock that reports writes late: IN_SYNC while it held the
    code. The new machine now sets an empty reading aside until pending_ttl after that set."""
    provider = Recording(VirtualLock(slots=4, lag=10.0, seed=1))
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        await settle(engine)  # read 0, set 2 (CONFIRMED; reads empty until 12)
        engine.release(1)
        engine.take(1, None)
        await trio.sleep(10)
        assert engine.state(1) is LOADING  # read empty at 4: set aside
        assert engine.retry_at(1) == 62  # the trust in the set ends
        await settle(engine)  # read at 62: the code; cleared at 64
        assert trio.current_time() == 64
        assert engine.state(1) is IN
    assert provider.calls == [
        (0, "read", [1]),
        (2, "set", 1),
        (4, "read", [1]),
        (62, "read", [1]),
        (64, "clear", 1),
    ]
    assert provider.lock.codes == {}


# -- survey and unmanaged() --------------------------------------------------------------------


async def test_survey_reads_unmanaged_slots_as_one_spaced_operation(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, seed=1))
    provider.lock.codes.update({3: "3333", 4: "4444"})
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        await settle(engine)  # read 0, set 2
        readings = await engine.survey([5, 4, 3])
        assert trio.current_time() == 4
        expected = {3: SlotCredential.known("3333"), 4: SlotCredential.known("4444"), 5: EMPTY}
        assert readings == expected
        assert engine.unmanaged() == expected
        assert engine.statistics().reads == 2
        with pytest.raises(ValueError, match=r"slots \[1\] are managed"):
            await engine.survey([1, 3])
        with pytest.raises(ValueError, match="slot numbers are >= 0"):
            await engine.survey([-1])
        assert await engine.survey([]) == {}
        # a slot the lock cannot have: the provider's ValueError, not a fault of the lock
        with pytest.raises(ValueError, match="slot 11 is not one of this lock's slots"):
            await engine.survey([11])
        assert engine.reachable
        engine.take(3, "3333")  # taken: no longer an unmanaged reading
        assert engine.unmanaged() == {4: SlotCredential.known("4444"), 5: EMPTY}
        assert trio.current_time() == 6
    assert provider.reads() == [[1], [3, 4, 5], [11]]


async def test_a_survey_in_flight_when_its_slot_is_taken_serves_as_the_first_read(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Found by the driver's harness: a survey's reading of a slot taken while the survey was
    under way went to the caller only; the slot's machine waited for a read of its own, and the
    harness counted the slot as read. The machine now observes it."""
    provider = Recording(VirtualLock(slots=10, latency=1.0, seed=1))
    async with open_lock_sync(provider, {1: None}) as engine, trio.open_nursery() as nursery:
        await settle(engine)  # read 0-1
        nursery.start_soon(engine.survey, [2])  # reads 2-3
        await trio.sleep(1.5)
        engine.take(2, "2222")
        await settle(engine)  # set 4-5
        assert trio.current_time() == 5
        assert engine.unmanaged() == {}
    assert provider.calls == [(0, "read", [1]), (2, "read", [2]), (4, "set", 2)]


async def test_survey_errors_reach_the_caller_and_count_against_the_lock(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, seed=1))
    async with open_lock_sync(provider, {1: None}) as engine:
        await settle(engine)
        provider.lock.fail_rate = 1.0
        with pytest.raises(LockOperationFailed, match="simulated failure"):
            await engine.survey([2])
        provider.lock.fail_rate = 0.0
        provider.lock.online = False
        with pytest.raises(LockDisconnected, match="the virtual lock is offline"):
            await engine.survey([2])
        assert engine.statistics().disconnects == 1
        assert engine.reachable  # one failure: not yet unreachable
        assert trio.current_time() == 4
        assert engine.unmanaged() == {}


async def test_survey_of_an_unreachable_lock_is_refused_at_once_without_io(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, seed=1))
    provider.lock.online = False
    async with open_lock_sync(provider, {1: None}) as engine:
        await trio.sleep(5)  # reads at 0, 2, 4 fail: unreachable, next probe at 64
        assert not engine.reachable
        with pytest.raises(LockDisconnected, match=r"3 failures in a row.*next in 59 s"):
            await engine.survey([2])
        assert trio.current_time() == 5
        assert len(provider.calls) == 3
        provider.lock.online = True
        await trio.sleep_until(65)  # the probe at 64 succeeded
        assert engine.reachable
        assert await engine.survey([2]) == {2: EMPTY}
        assert trio.current_time() == 66


async def test_a_survey_waiting_when_the_lock_becomes_unreachable_is_refused(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, latency=1.0, seed=1))
    provider.lock.online = False
    async with open_lock_sync(provider, {1: None}) as engine, trio.open_nursery() as nursery:
        await trio.sleep(3.5)  # reads at 0 and 2 failed at once; the next is at 4
        provider.lock.online = True
        await trio.sleep(1)  # the read at 4 is under way (4-5)
        nursery.start_soon(trio.sleep_until, 4.6)  # ... and the lock goes at 4.6
        refused: list[BaseException] = []

        async def survey() -> None:
            with pytest.raises(LockDisconnected) as caught:
                await engine.survey([2])
            refused.append(caught.value)

        nursery.start_soon(survey)
        await trio.sleep_until(4.6)
        provider.lock.online = False
        await trio.sleep(1)
        assert not engine.reachable
        assert [str(e) for e in refused] == [
            "lock unreachable: 3 failures in a row; surveys wait for the lock's probe "
            "(next in 60 s)"
        ]
        assert provider.reads() == [[1], [1], [1]]  # the survey never went out


async def test_an_engine_without_slots_reads_nothing_until_asked_and_probes_one_slot(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, seed=1))
    async with open_lock_sync(provider, {}) as engine:
        await trio.sleep(3 * 3600)
        assert provider.calls == []
        assert engine.reachable
        provider.lock.online = False
        for _ in range(3):
            with pytest.raises(LockDisconnected):
                await engine.survey([4, 6])
        assert not engine.reachable  # at 10804
        provider.lock.online = True
        await trio.sleep_until(10865)  # the probe at 10864 reads the lowest slot surveyed
        assert engine.reachable
        assert engine.unmanaged() == {4: EMPTY}
    assert provider.reads() == [[4, 6]] * 3 + [[4]]


async def test_survey_cancelled_before_its_turn_is_never_sent(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, seed=1))
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        await settle(engine)  # read 0, set 2
        with trio.move_on_after(1):  # its turn would come at 4
            await engine.survey([3])
        assert await engine.survey([4]) == {4: EMPTY}
        assert trio.current_time() == 4
    assert provider.reads() == [[1], [4]]


async def test_survey_cancelled_in_flight_finishes_and_keeps_its_reading(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=10, latency=1.0, seed=1))
    provider.lock.codes[3] = "3333"
    async with open_lock_sync(provider, {1: None}) as engine:
        await settle(engine)  # read 0-1
        with trio.move_on_after(1.5):  # the survey reads 2-3
            await engine.survey([3])
        assert trio.current_time() == 2.5
        await trio.sleep(1)
        assert engine.unmanaged() == {3: SlotCredential.known("3333")}
        assert await engine.survey([4]) == {4: EMPTY}  # the worker goes on
        assert trio.current_time() == 5


async def test_a_survey_waiting_when_the_engine_closes_raises_closed_resource_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=10, latency=5.0, seed=1)
    errors: list[BaseException] = []

    async def survey(engine: LockSync) -> None:
        try:
            await engine.survey([3])
        except trio.ClosedResourceError as error:
            errors.append(error)

    async with trio.open_nursery() as nursery, open_lock_sync(lock, {1: None}) as engine:
        await trio.sleep(1)  # the first read takes 0-5
        nursery.start_soon(survey, engine)
        await trio.sleep(1)
    assert len(errors) == 1
    with pytest.raises(trio.ClosedResourceError):
        await engine.survey([3])


async def test_pushes_for_unmanaged_slots_show_up_in_unmanaged(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=10, push=True, seed=1)
    async with open_lock_sync(lock, {1: None}) as engine:
        await settle(engine)
        lock.keypad_set(7, "7777")
        lock.keypad_set(1, "1111")  # managed: the engine clears it, never an unmanaged reading
        await trio.testing.wait_all_tasks_blocked()
        assert engine.unmanaged() == {7: SlotCredential.known("7777")}
        lock.keypad_clear(7)
        await trio.testing.wait_all_tasks_blocked()
        assert engine.unmanaged() == {7: EMPTY}
        engine.take(7, None)
        assert engine.unmanaged() == {}
        await settle(engine)
        engine.release(7)
        assert engine.unmanaged() == {}  # not until read again
        lock.keypad_set(7, "7070")
        await trio.testing.wait_all_tasks_blocked()
        assert engine.unmanaged() == {7: SlotCredential.known("7070")}
        await settle(engine)
    assert lock.codes == {7: "7070"}


# -- never a walk of the whole lock -----------------------------------------------------------


async def test_drift_reads_read_only_the_managed_slots(autojump_clock: trio.abc.Clock) -> None:
    """lock_code_manager #1278: a full read of every slot, hourly, on 250-slot locks."""
    provider = Recording(VirtualLock(slots=250, seed=1))
    async with open_lock_sync(provider, {1: "1111", 2: None}) as engine:
        await trio.sleep(3 * 3600 + 1)
        engine.take(40, None)
        engine.release(2)
        await trio.sleep(3600)
    reads = [(t, slots) for t, call, slots in provider.calls if call == "read"]
    assert reads == [
        (0, [1, 2]),
        (3600, [1, 2]),
        (7200, [1, 2]),
        (10800, [1, 2]),
        (10802, [40]),  # taken at 10801: read alone, after the spacing
        (14400, [1, 40]),  # released slot 2 is not read again
    ]
    assert provider.lock.statistics().reads == 6


# -- reachability, retry times, events ------------------------------------------------------------


async def test_retry_at_says_when_the_engine_next_acts_on_a_slot(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Recording(VirtualLock(slots=4, fail_rate=1.0, seed=1))
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        assert engine.retry_at(1) == 0  # the first full read
        await trio.sleep(1)  # the read at 0 failed (LockOperationFailed): retried at 2
        assert engine.retry_at(1) == 2
        provider.lock.fail_rate = 0.0
        await trio.sleep(2)  # read at 2: SYNCING, the set waits for its turn (at 4)
        assert (engine.state(1), engine.retry_at(1)) == (SYNCING, 3)  # under way: now
        provider.lock.fail_rate = 1.0
        await trio.sleep(2)  # the set at 4 failed: retried at 6
        assert (engine.state(1), engine.retry_at(1)) == (OUT, 6)
        provider.lock.fail_rate = 0.0
        await settle(engine)
        assert engine.retry_at(1) == math.inf  # in sync: nothing scheduled
        assert engine.reachable


async def test_events_pass_through_and_a_provider_without_them_is_a_type_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=4, seed=1)
    async with open_lock_sync(WithEvents(lock), {1: None}) as engine:
        assert engine.reports_events
        events = engine.events()
        lock.keypad_unlock(1)
        event = await events.__anext__()
        assert (event.slot, event.name) == (1, "keypad_unlock")
    async with open_lock_sync(Recording(lock), {1: None}) as engine:
        assert not engine.reports_events
        with pytest.raises(TypeError, match="Recording reports no lock events"):
            engine.events()


async def test_spacing_holds_across_surveys_and_writes(autojump_clock: trio.abc.Clock) -> None:
    provider = Recording(VirtualLock(slots=10, latency=0.5, seed=1))
    results: list[tuple[float, dict[int, SlotCredential]]] = []

    async def survey(engine: LockSync, slots: list[int]) -> None:
        readings = dict(await engine.survey(slots))
        results.append((trio.current_time(), readings))

    async with (
        open_lock_sync(provider, {1: "1111", 2: "2222"}) as engine,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(survey, engine, [5])
        await trio.testing.wait_all_tasks_blocked()  # asked first
        nursery.start_soon(survey, engine, [6, 7])
        await settle(engine)
    starts = [t for t, _, _ in provider.calls]
    # the full read, then the surveys in the order asked, then the writes: 2 s apart
    assert provider.calls == [
        (0, "read", [1, 2]),
        (2, "read", [5]),
        (4, "read", [6, 7]),
        (6, "set", 1),
        (8, "set", 2),
    ]
    assert all(b - a >= 2 for a, b in itertools.pairwise(starts))
    assert results == [(2.5, {5: EMPTY}), (4.5, {6: EMPTY, 7: EMPTY})]
    assert engine.statistics().operations == 5
    assert provider.lock.statistics().max_in_flight == 1


def test_survey_errors_are_lock_sync_errors() -> None:
    assert issubclass(LockDisconnected, LockSyncError)
    assert issubclass(LockOperationFailed, LockSyncError)
