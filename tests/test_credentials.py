"""The credential sync engine in virtual time: lock_code_manager's sync tests re-expressed, and
every transition of the slot state machine forced deterministically."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing

from trio_locksync import Pin
from trio_locksync.core import (
    Backoff,
    BreakerState,
    CircuitBreaker,
    InvalidTransition,
    Jitter,
    ProbeBreaker,
)
from trio_locksync.credentials import (
    LockOperationFailed,
    SlotCredential,
    SyncState,
    WriteResult,
)
from trio_locksync.credentials._engine import SlotChange, open_lock_sync
from trio_locksync.credentials._rules import (
    Desired,
    ReadBack,
    in_sync,
    judge_read_back,
    pin_digest,
)
from trio_locksync.credentials._slot import SUSPENDED_RETRY
from trio_locksync.testing import VirtualLock

IN, OUT, SUSP = SyncState.IN_SYNC, SyncState.OUT_OF_SYNC, SyncState.SUSPENDED
PEND, SYNCING = SyncState.PENDING_CONFIRMATION, SyncState.SYNCING


class Wrapped:
    """A provider around a VirtualLock that can fail sets, hide reads, or raise oddly."""

    def __init__(self, lock: VirtualLock) -> None:
        self.lock = lock
        self.fail_sets = 0
        self.write_only = False
        self.boom_slots: set[int] = set()
        self.read_args: list[Collection[int] | None] = []

    @property
    def supports_push(self) -> bool:
        return self.lock.supports_push

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        self.read_args.append(None if slots is None else sorted(slots))
        result = await self.lock.read_slots(slots)
        return {} if self.write_only else result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        if slot in self.boom_slots:
            raise RuntimeError("driver bug")
        if self.fail_sets:
            self.fail_sets -= 1
            await trio.lowlevel.checkpoint()
            raise LockOperationFailed("jammed", slot=slot)
        return await self.lock.set_code(slot, pin)

    async def clear_code(self, slot: int) -> WriteResult:
        return await self.lock.clear_code(slot)

    def updates(self) -> Any:
        return self.lock.updates()


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[float, SlotChange]] = []

    async def run(self, engine: Any) -> None:
        async for change in engine.changes():
            self.changes.append((trio.current_time(), change))

    def states(self, slot: int) -> list[tuple[float, SyncState]]:
        return [(t, c.state) for t, c in self.changes if c.slot == slot]


async def settle(engine: Any) -> None:
    with trio.fail_after(10_000):
        await engine.wait_settled()


async def wait_state(engine: Any, slot: int, state: SyncState) -> None:
    changes = engine.changes()
    with trio.fail_after(10_000):
        while engine.state(slot) is not state:
            await changes.__anext__()


# -- the truth table ---------------------------------------------------------------------------

SALT = b"salt"
P1, P2 = Pin("1111"), Pin("2222")
D1 = pin_digest(SALT, 1, P1)


@pytest.mark.parametrize(
    ("desired", "observed", "verified", "last", "expected"),
    [
        (Desired(True, P1), SlotCredential.known("1111"), True, None, True),
        (Desired(True, P1), SlotCredential.known("2222"), True, None, False),
        (Desired(True, P1), SlotCredential.unreadable(), True, D1, True),
        (Desired(True, P1), SlotCredential.unreadable(), True, None, False),
        (Desired(True, P1), SlotCredential.unreadable(), True, pin_digest(SALT, 1, P2), False),
        (Desired(True, P1), SlotCredential.empty(), True, D1, False),
        (Desired(False, P1), SlotCredential.empty(), True, None, True),
        (Desired(False, P1), SlotCredential.known("1111"), True, None, False),
        (Desired(True, None), SlotCredential.empty(), True, None, True),
        (Desired(True, None), SlotCredential.unreadable(), True, None, False),
    ],
)
def test_calculate_in_sync(
    desired: Desired, observed: SlotCredential, verified: bool, last: str | None, expected: bool
) -> None:
    digest = pin_digest(SALT, 1, desired.pin) if desired.pin else None
    assert (
        in_sync(desired, observed, verified=verified, last_written=last, digest=digest) is expected
    )


K1, K2, MASKED, EMPTY = (
    SlotCredential.known("1111"),
    SlotCredential.known("2222"),
    SlotCredential.unreadable(),
    SlotCredential.empty(),
)


@pytest.mark.parametrize(
    ("believed", "before", "reading", "verdict", "current"),
    [
        # current: the lock's own answer to the read-back, after the set (issue 24)
        (P1, EMPTY, K1, ReadBack.CONFIRMED, ReadBack.CONFIRMED),  # readable: ours
        (P1, EMPTY, MASKED, ReadBack.CONFIRMED, ReadBack.CONFIRMED),  # nothing there before
        (P1, EMPTY, EMPTY, ReadBack.WAITING, ReadBack.ABSENT),  # absent: lag, or proof
        (P1, K2, EMPTY, ReadBack.WAITING, ReadBack.ABSENT),
        (P1, MASKED, EMPTY, ReadBack.WAITING, ReadBack.ABSENT),
        (P1, K2, K2, ReadBack.LOST, ReadBack.LOST),  # the previous code is still there
        (P1, EMPTY, K2, ReadBack.EXTERNAL, ReadBack.EXTERNAL),  # someone else's code: it wins
        (P1, K2, SlotCredential.known("3333"), ReadBack.EXTERNAL, ReadBack.EXTERNAL),
        (P1, MASKED, MASKED, ReadBack.UNINFORMATIVE, ReadBack.UNINFORMATIVE),  # clear first
        (P1, K2, MASKED, ReadBack.UNINFORMATIVE, ReadBack.UNINFORMATIVE),
        (None, K1, EMPTY, ReadBack.CONFIRMED, ReadBack.CONFIRMED),  # a clear: empty confirms
        (None, K1, K1, ReadBack.WAITING, ReadBack.WAITING),  # a clear still present: waits
        (None, MASKED, MASKED, ReadBack.WAITING, ReadBack.WAITING),
    ],
)
def test_read_back_truth_table(
    believed: Pin | None,
    before: SlotCredential,
    reading: SlotCredential,
    verdict: ReadBack,
    current: ReadBack,
) -> None:
    assert judge_read_back(believed, before, reading) is verdict
    assert judge_read_back(believed, before, reading, current=True) is current


@pytest.mark.parametrize(
    "observed", [SlotCredential.known("1111"), SlotCredential.unreadable(), SlotCredential.empty()]
)
def test_unverified_slot_is_never_in_sync(observed: SlotCredential) -> None:
    for desired in (Desired(True, P1), Desired(False, None)):
        digest = pin_digest(SALT, 1, P1)
        assert not in_sync(desired, observed, verified=False, last_written=digest, digest=digest)


def test_digest_is_salted_per_slot_and_hides_digits() -> None:
    assert pin_digest(SALT, 1, P1) != pin_digest(SALT, 2, P1)
    assert pin_digest(SALT, 1, P1) != pin_digest(b"other", 1, P1)
    assert "1111" not in pin_digest(SALT, 1, P1)
    assert "1111" not in repr(Desired(True, P1))


# -- breakers (lock_code_manager tests/test_resilience.py) -------------------------------------


def test_slot_breaker_window() -> None:
    breaker = CircuitBreaker(failures=3, window=300, retry=None)
    assert not breaker.record_failure(0)
    assert not breaker.record_failure(100)
    assert breaker.count(350) == 1  # the first aged out of the window
    assert not breaker.record_failure(350)
    assert breaker.count(350) == 2
    assert breaker.record_failure(380)  # trips at threshold within the window
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allows(10**9)  # retry=None: open until reset (the old latch)
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.count(600) == 0
    assert breaker.allows(600)


def test_slot_breaker_retries_with_backoff_and_a_failed_probe_keeps_escalating() -> None:
    """Issue 9 fix 3: an open breaker names its next try (1 h doubling to 24 h); a probe that
    fails opens it again with the next delay, not the first; a reset starts over."""
    breaker = CircuitBreaker(failures=3, window=300, retry=SUSPENDED_RETRY)
    for t in (0, 2, 4):
        breaker.record_failure(t)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_at == 4 + 3600
    assert not breaker.allows(3603)
    with pytest.raises(InvalidTransition):
        breaker.probe(3603)
    assert breaker.state is BreakerState.OPEN  # the refused probe changed nothing
    retries = []
    now = 4.0
    for _ in range(7):
        now = breaker.retry_at
        breaker.probe(now)
        assert breaker.state is BreakerState.HALF_OPEN
        assert breaker.record_failure(now)  # one failed probe re-opens it at once
        retries.append(breaker.retry_at - now)
    assert retries == [7200, 14400, 28800, 57600, 86400, 86400, 86400]
    breaker.reset()
    for t in (now, now + 1, now + 2):
        breaker.record_failure(t)
    assert breaker.retry_at == now + 2 + 3600


def test_lock_breaker_backoff() -> None:
    breaker = ProbeBreaker(threshold=3)
    assert breaker.next_probe_delay() == 0  # unused while not tripped
    assert not breaker.record_failure()
    assert not breaker.record_failure()
    assert breaker.record_failure()
    delays = [breaker.next_probe_delay() for _ in range(8)]
    assert delays == [60, 120, 240, 480, 960, 1800, 1800, 1800]
    breaker.record_success()
    assert not breaker.tripped
    assert breaker.consecutive == 0
    for _ in range(3):
        breaker.record_failure()
    assert breaker.next_probe_delay() == 60  # reset clears the escalation


# -- the engine --------------------------------------------------------------------------------


async def test_initial_sync_is_spaced_one_operation_at_a_time(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=5, seed=1)
    async with open_lock_sync(lock, {1: "1111", 2: "2222", 3: None}) as engine:
        await settle(engine)
        assert trio.current_time() == 4.0  # read at 0, sets at 2 and 4
        assert [engine.state(s) for s in (1, 2, 3)] == [IN, IN, IN]
        stats = engine.statistics()
        assert (stats.reads, stats.sets, stats.operations) == (1, 2, 3)
    assert lock.codes == {1: "1111", 2: "2222"}


async def test_pending_optimistic_write_confirmed_by_reading_back_just_that_slot(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Wrapped(VirtualLock(slots=30, optimistic=1.0, seed=1))
    recorder = Recorder()
    async with open_lock_sync(provider, {7: "7777"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(recorder.run, engine)
        await settle(engine)
        await trio.testing.wait_all_tasks_blocked()  # let the recorder drain its feed
        nursery.cancel_scope.cancel()
    # read at 0, set at 2 (answered OPTIMISTIC), read back at 4
    assert recorder.states(7) == [(0.0, OUT), (0.0, SYNCING), (2.0, PEND), (4.0, IN)]
    assert provider.read_args == [[7], [7]]  # neither the full read nor the confirmation scans 30
    assert engine.statistics().confirmed_by_read == 1


async def test_masked_optimistic_write_confirmed_by_a_present_reading(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=4, optimistic=1.0, masked=True, seed=1)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        await settle(engine)
        assert engine.state(1) is IN
        assert engine.statistics().confirmed_by_read == 1


async def test_pending_optimistic_write_expiry_records_failure_and_resyncs(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Writes that never land answer OPTIMISTIC; each stays pending for pending_ttl, is charged
    once at its deadline, and re-synced; the third charge within the window suspends."""
    lock = VirtualLock(slots=4, write_lands=0.0, seed=1)
    recorder = Recorder()
    async with open_lock_sync(lock, {1: "1111"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(recorder.run, engine)
        await settle(engine)
        assert engine.state(1) is SUSP
        assert "sync attempts exceeded (3 failures" in engine.reason(1)
        stats = engine.statistics()
        assert (stats.sets, stats.slot_failures) == (3, 3)
        await trio.testing.wait_all_tasks_blocked()  # let the recorder drain its feed
        nursery.cancel_scope.cancel()
    pend = [t for t, s in recorder.states(1) if s is PEND]
    # set at 2; charged at its deadline 62; retried at 64; charged at 124; retried at 126
    assert pend == [2.0, 64.0, 126.0]
    assert recorder.states(1)[-1] == (186.0, SUSP)
    assert all(s is not IN for _, s in recorder.states(1))
    assert lock.codes == {}


async def test_pending_write_abandoned_when_desired_changes(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, write_lands=0.0, seed=1)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        await trio.sleep(10)
        assert engine.state(1) is PEND
        lock.write_lands = 1.0
        engine.set_desired(1, pin="2222")
        await settle(engine)
        assert engine.state(1) is IN
        assert engine.statistics().slot_failures == 0
    assert lock.codes == {1: "2222"}


async def test_clear_supersedes_a_pending_set(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, write_lands=0.0, seed=1)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        await trio.sleep(10)
        engine.set_desired(1, pin=None)
        await settle(engine)
        assert engine.state(1) is IN
        assert engine.statistics().slot_failures == 0


async def test_repeated_operation_failure_trips_slot_breaker_not_lock(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Wrapped(VirtualLock(slots=4, seed=1))
    provider.fail_sets = 3
    async with open_lock_sync(provider, {1: "1111"}) as engine:
        await settle(engine)
        assert engine.state(1) is SUSP
        assert trio.current_time() == 6.0  # failures at 2, 4, 6 (retry_interval 2)
        assert engine.statistics().lock_reachable
        engine.set_desired(2, pin=None) if False else None
    assert provider.lock.codes == {}


async def test_code_suspension_latches_until_target_changes(
    autojump_clock: trio.abc.Clock,
) -> None:
    provider = Wrapped(VirtualLock(slots=4, seed=1))
    provider.fail_sets = 3
    async with open_lock_sync(provider, {1: "1111"}, suspended_retry=None) as engine:
        await settle(engine)
        suspended = 1
        assert engine.state(suspended) is SUSP
        sets = engine.statistics().sets
        await trio.sleep(3600 * 3)  # the fault is gone, but a suspension latches
        assert engine.state(suspended) is SUSP
        assert engine.statistics().sets == sets
        engine.set_desired(suspended, pin="9999")
        await settle(engine)
        assert engine.state(suspended) is IN
    assert provider.lock.codes[suspended] == "9999"


async def test_suspended_slot_recovers_when_found_in_sync(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, write_lands=0.0, push=True, seed=1)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        await settle(engine)
        assert engine.state(1) is SUSP
        lock.keypad_set(1, "1111")  # someone set it at the door
        await trio.sleep(0.1)
        assert engine.state(1) is IN


async def test_set_disconnect_failures_trip_lock_breaker_and_probe_with_backoff(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=4, seed=1)
    recorder = Recorder()
    async with open_lock_sync(lock, {1: "1111", 2: None}) as engine, trio.open_nursery() as n:
        n.start_soon(recorder.run, engine)
        await trio.sleep(1)  # the first read is done
        lock.online = False
        await trio.sleep(20)
        # sets at 2, 4, 6 failed: the lock is unreachable and every slot suspended
        assert (engine.state(1), engine.state(2)) == (SUSP, SUSP)
        assert engine.reason(1).startswith("lock unreachable")
        assert not engine.statistics().lock_reachable
        await trio.sleep(100)  # probe at 66 fails; next at 66 + 120 = 186
        assert engine.state(1) is SUSP
        lock.online = True
        await wait_state(engine, 1, IN)
        assert trio.current_time() == 188.0  # probe read at 186, set at 188
        assert (engine.state(1), engine.state(2)) == (IN, IN)
        assert engine.statistics().disconnects == 4
        n.cancel_scope.cancel()


async def test_unreachable_retry_sets_the_probe_schedule_of_an_unreachable_lock(
    autojump_clock: trio.abc.Clock,
) -> None:
    """``unreachable_retry`` replaces the default 60 s, 120 s … re-probes: with 10 s fixed the
    same outage as above recovers at the first probe after the lock is back."""
    lock = VirtualLock(slots=4, seed=1)
    fixed = Backoff(initial=10.0, maximum=10.0, jitter=Jitter.NONE)
    async with open_lock_sync(lock, {1: "1111", 2: None}, unreachable_retry=fixed) as engine:
        await trio.sleep(1)
        lock.online = False
        await trio.sleep(20)  # sets at 2, 4, 6 failed; probes at 16, 26, 36 … fail
        assert engine.state(1) is SUSP
        lock.online = True  # at t = 21
        await wait_state(engine, 1, IN)
        assert trio.current_time() == 28.0  # probe read at 26, set at 28
    with pytest.raises(TypeError, match="unreachable_retry"):
        async with open_lock_sync(lock, {1: "1111"}, unreachable_retry=None):  # type: ignore[arg-type]
            pass


async def test_push_wakes_the_slot_at_once(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, push=True, seed=1)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        await settle(engine)
        await trio.sleep(100)
        recorder = Recorder()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.run, engine)
            await trio.testing.wait_all_tasks_blocked()
            lock.keypad_clear(1)
            await wait_state(engine, 1, IN)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        # seen at once (t = 102, the same instant) and written at once (spacing long satisfied)
        assert recorder.states(1) == [(102.0, OUT), (102.0, SYNCING), (102.0, IN)]
    assert lock.codes == {1: "1111"}


async def test_drift_read_catches_a_silent_change(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, seed=1)
    async with open_lock_sync(lock, {1: "1111"}, drift_interval=600) as engine:
        await settle(engine)
        lock.keypad_clear(1)  # no push
        await trio.sleep(500)
        assert engine.state(1) is IN  # not seen yet
        await trio.sleep(200)
        assert engine.state(1) is IN
        assert engine.statistics().sets == 2
    assert lock.codes == {1: "1111"}


async def test_code_rejected_suspends_with_reason(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, rejected=frozenset({"1234"}), seed=1)
    async with open_lock_sync(lock, {1: "1234", 2: "2222"}) as engine:
        await settle(engine)
        assert engine.state(1) is SUSP
        assert "code rejected by the lock" in engine.reason(1)
        assert engine.state(2) is IN
        engine.set_desired(1, pin="4321")
        await settle(engine)
        assert engine.state(1) is IN


async def test_unexpected_provider_error_suspends_only_that_slot(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    provider = Wrapped(VirtualLock(slots=4, seed=1))
    provider.boom_slots = {2}
    async with open_lock_sync(provider, {1: "1111", 2: "2222", 3: "3333"}) as engine:
        await settle(engine)
        assert [engine.state(s) for s in (1, 2, 3)] == [IN, SUSP, IN]
        assert "RuntimeError" in engine.reason(2)
    assert "unexpected provider error" in caplog.text


async def test_masked_slot_memory_is_persisted_so_a_restart_costs_no_write(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    from trio_locksync import open_store

    from .storehelpers import run_inline

    lock = VirtualLock(slots=4, masked=True, seed=1)
    memory = tmp_path / "memory.json"
    slots = {1: "1111", 2: "2222"}
    async with (
        open_store(memory, run_blocking=run_inline) as store,
        open_lock_sync(lock, slots, store=store) as engine,
    ):
        await settle(engine)
        assert engine.statistics().sets == 2
    assert_no_pin_stored(memory.read_text(), "1111", "2222")
    async with (
        open_store(memory, run_blocking=run_inline) as store,
        open_lock_sync(lock, slots, store=store) as engine,
    ):
        await settle(engine)
        assert [engine.state(s) for s in slots] == [IN, IN]
        assert engine.statistics().sets == 0
    async with open_lock_sync(lock, slots) as engine:
        # No memory, and nothing known yet of how this lock answers sets: slot 1 is cleared,
        # then set. That set is answered CONFIRMED (a set over a masked code then proves
        # itself), so slot 2 is set directly (the lock answers NO_CHANGE: it held 2222).
        await settle(engine)
        assert (engine.statistics().sets, engine.statistics().clears) == (2, 1)


async def test_believed_mode_keeps_a_write_only_lock_in_sync(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A lock whose reads say nothing never confirms an optimistic write. By default that ends
    SUSPENDED (visible, never silently in sync); with believed=True the belief stands until a
    contradicting observation. The trade-off, shown here on purpose: this lock never stores the
    code (write_lands=0), and believed mode cannot tell that from a masked write that landed."""
    for believed, final in ((False, SUSP), (True, IN)):
        provider = Wrapped(VirtualLock(slots=4, write_lands=0.0, seed=1))
        provider.write_only = True
        async with open_lock_sync(provider, {1: "1111"}, believed=believed) as engine:
            await settle(engine)
            assert engine.state(1) is final
            await trio.sleep(7200)  # drift reads bring no contradiction
            assert engine.state(1) is final
        assert provider.lock.codes == {}


async def test_believed_mode_drops_belief_on_contradiction(autojump_clock: trio.abc.Clock) -> None:
    provider = Wrapped(VirtualLock(slots=4, optimistic=1.0, push=True, seed=1))
    provider.write_only = True
    async with open_lock_sync(provider, {1: "1111"}, believed=True) as engine:
        await settle(engine)
        provider.lock.keypad_clear(1)  # pushed: an empty slot contradicts the belief
        await trio.sleep(0.01)
        assert engine.state(1) is not IN
        assert provider.lock.codes == {1: "1111"}  # re-written at once
        await trio.sleep(100)
        assert engine.state(1) is IN


async def test_pins_never_appear_in_logs_reasons_or_reprs(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = Wrapped(VirtualLock(slots=4, write_lands=0.0, seed=1))
    provider.boom_slots = {3}
    pins = {1: "918273", 2: "564738", 3: "102938"}
    recorder = Recorder()
    async with open_lock_sync(provider, pins) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(recorder.run, engine)
        await settle(engine)
        text = caplog.text + repr(engine) + repr(engine.statistics()) + repr(recorder.changes)
        text += "".join(engine.reason(s) for s in pins) + repr(provider.lock)
        nursery.cancel_scope.cancel()
    for pin in pins.values():
        assert pin not in text


async def test_leaving_the_block_stops_all_work(autojump_clock: trio.abc.Clock) -> None:
    lock = VirtualLock(slots=4, write_lands=0.0, seed=1)
    async with open_lock_sync(lock, {1: "1111"}):
        await trio.sleep(3)
    before = lock.statistics()
    await trio.sleep(1000)
    assert lock.statistics() == before


@pytest.mark.parametrize(
    "bad", [{"operation_spacing": -1}, {"pending_ttl": 0}, {"retry_interval": 0}]
)
async def test_invalid_options(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        async with open_lock_sync(VirtualLock(), {1: "1111"}, **bad):
            pass  # pragma: no cover


async def test_unmanaged_slot_is_a_key_error(autojump_clock: trio.abc.Clock) -> None:
    async with open_lock_sync(VirtualLock(), {1: "1111"}) as engine:
        with pytest.raises(KeyError):
            engine.state(9)
        with pytest.raises(KeyError):
            engine.set_desired(9, pin="1234")


def test_engine_under_anyio() -> None:
    async def main() -> None:
        lock = VirtualLock(slots=4, seed=1)
        async with open_lock_sync(lock, {1: "1111"}, operation_spacing=0.01) as engine:
            with anyio.fail_after(5):
                await engine.wait_settled()
            changes = engine.changes()
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0)
                engine.set_desired(1, pin=None)
            with anyio.fail_after(5):
                while engine.state(1) is not IN or lock.codes:
                    await changes.__anext__()
        assert lock.codes == {}

    anyio.run(main, backend="trio")


async def test_readable_different_code_during_confirmation_is_an_external_change(
    autojump_clock: trio.abc.Clock,
) -> None:
    """PENDING_CONFIRMATION → OUT_OF_SYNC without a charge: the read-back shows someone else's
    code, which wins over our belief; the engine then writes the desired code again."""
    lock = VirtualLock(slots=4, write_lands=0.0, seed=1)
    recorder = Recorder()
    async with open_lock_sync(lock, {1: "1111"}) as engine, trio.open_nursery() as nursery:
        nursery.start_soon(recorder.run, engine)
        await trio.sleep(3)  # set at 2 answered OPTIMISTIC (it did not land)
        assert engine.state(1) is PEND
        lock.keypad_set(1, "5555")  # changed at the door before the read-back at 4
        lock.write_lands = 1.0
        await wait_state(engine, 1, IN)
        await trio.testing.wait_all_tasks_blocked()
        assert engine.statistics().slot_failures == 0
        nursery.cancel_scope.cancel()
    assert (4.0, OUT) in recorder.states(1)
    assert lock.codes == {1: "1111"}


async def test_leaving_the_block_during_an_operation_cancels_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=4, latency=5.0, seed=1)
    with trio.move_on_after(3):
        async with open_lock_sync(lock, {1: "1111"}):
            await trio.sleep_forever()
    assert trio.current_time() == 3
    await trio.sleep(100)
    assert lock.codes == {}  # the read in flight was cancelled; nothing ran afterwards


def assert_no_pin_stored(text: str, *pins: str) -> None:
    """No PIN among the stored strings. A salted digest is hex and may contain a PIN's digits
    by chance ("...e3d222268e..." held "2222" once in a CI run): a long hex string is a
    digest, anything else must not contain a PIN."""
    leaves: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                leaves.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            leaves.append(str(node))

    walk(json.loads(text))
    for leaf in leaves:
        digest = len(leaf) >= 32 and all(c in "0123456789abcdef" for c in leaf)
        assert digest or not any(pin in leaf for pin in pins), leaf
