"""VirtualLock does exactly what its knobs say, in virtual time; the credential values and errors
never show a PIN."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_locksync.core import InvalidPinError, LockSyncError, Pin
from trio_locksync.credentials import (
    CodeRejected,
    CredentialError,
    CredentialKind,
    LockDisconnected,
    LockOperationFailed,
    LockProvider,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
)
from trio_locksync.testing import VirtualLock

DIGITS = "480271"


# -- models -------------------------------------------------------------------------------------


def test_write_result_changed() -> None:
    assert not WriteResult.NO_CHANGE.changed
    assert WriteResult.CONFIRMED.changed
    assert WriteResult.OPTIMISTIC.changed


def test_enum_values_are_lower_case_names() -> None:
    for enum_type in (WriteResult, SyncState, CredentialKind):
        for member in enum_type:
            assert member.value == member.name.lower()
    assert [s.name for s in SyncState] == [
        "LOADING",
        "IN_SYNC",
        "OUT_OF_SYNC",
        "SYNCING",
        "PENDING_CONFIRMATION",
        "SUSPENDED",
    ]


def test_slot_credential_constructors_and_properties() -> None:
    empty, unreadable = SlotCredential.empty(), SlotCredential.unreadable()
    known = SlotCredential.known(DIGITS)
    assert (empty.kind, empty.pin) == (CredentialKind.EMPTY, None)
    assert (unreadable.kind, unreadable.pin) == (CredentialKind.UNREADABLE, None)
    assert (known.kind, known.pin) == (CredentialKind.KNOWN, Pin(DIGITS))
    assert SlotCredential.known(Pin(DIGITS)) == known
    assert SlotCredential(CredentialKind.EMPTY) == empty
    assert (empty.is_present, unreadable.is_present, known.is_present) == (False, True, True)
    assert (empty.is_readable, unreadable.is_readable, known.is_readable) == (True, False, True)
    assert known != SlotCredential.known("480272")
    assert len({known, SlotCredential.known(DIGITS), empty, unreadable}) == 3


def test_known_needs_a_pin() -> None:
    with pytest.raises(TypeError) as info:
        SlotCredential(CredentialKind.KNOWN)
    with pytest.raises(TypeError) as info_str:
        SlotCredential(CredentialKind.KNOWN, DIGITS)  # type: ignore[arg-type]
    assert DIGITS not in str(info.value) + str(info_str.value)
    with pytest.raises(InvalidPinError) as bad:
        SlotCredential.known("12a4")
    assert "12a4" not in str(bad.value)


@pytest.mark.parametrize("kind", [CredentialKind.EMPTY, CredentialKind.UNREADABLE])
def test_empty_and_unreadable_must_not_carry_a_pin(kind: CredentialKind) -> None:
    with pytest.raises(ValueError, match=kind.value) as info:
        SlotCredential(kind, Pin(DIGITS))
    assert DIGITS not in str(info.value)


def test_slot_credential_is_frozen() -> None:
    known = SlotCredential.known(DIGITS)
    with pytest.raises(AttributeError):
        known.pin = None  # type: ignore[misc]


def test_reprs_never_show_digits() -> None:
    known = SlotCredential.known(DIGITS)
    assert repr(known) == "SlotCredential.known(<redacted>)"
    assert repr(SlotCredential.empty()) == "SlotCredential.empty()"
    assert repr(SlotCredential.unreadable()) == "SlotCredential.unreadable()"
    update = SlotUpdate(3, known)
    assert DIGITS not in repr(update) + str(update) + f"{known}"
    assert "slot=3" in repr(update)
    lock = VirtualLock(rejected={"112233"})
    lock.codes[3] = DIGITS
    lock.keypad_set(4, "9090")
    for text in (repr(lock), str(lock), repr(lock.statistics())):
        assert DIGITS not in text
        assert "112233" not in text
        assert "9090" not in text
    assert "codes=<2 set>" in repr(lock)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "opening"),
    [
        (CredentialError, "credential operation failed"),
        (LockDisconnected, "lock unreachable"),
        (LockOperationFailed, "lock operation failed"),
        (CodeRejected, "lock rejected the code"),
    ],
)
def test_error_messages_say_what_and_which_slot(
    error_type: type[CredentialError], opening: str
) -> None:
    error = error_type("timed out", slot=7)
    assert isinstance(error, LockSyncError)
    assert isinstance(error, CredentialError)
    assert (error.slot, error.reason) == (7, "timed out")
    assert str(error) == f"{opening} on slot 7: timed out"
    whole_lock = error_type("no route")
    assert (whole_lock.slot, str(whole_lock)) == (None, f"{opening}: no route")
    assert str(error_type()) == opening
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.slot, copy.reason, str(copy)) == (
        error_type,
        7,
        "timed out",
        str(error),
    )


# -- the virtual lock: reads, writes, answers ---------------------------------------------------


def test_virtual_lock_is_a_lock_provider() -> None:
    lock = VirtualLock()
    provider: LockProvider = lock
    assert isinstance(provider, LockProvider)
    assert not lock.supports_push
    assert VirtualLock(push=True).supports_push
    assert lock.online
    assert lock.codes == {}
    assert (lock.slots, lock.masked, lock.write_lands, lock.optimistic) == (30, False, 1.0, 0.0)
    assert (lock.latency, lock.fail_rate, lock.seed, lock.rejected) == (0.0, 0.0, None, frozenset())


@pytest.mark.parametrize(
    "knobs",
    [
        {"slots": 0},
        {"slots": True},
        {"write_lands": 1.5},
        {"optimistic": -0.1},
        {"fail_rate": float("nan")},
        {"latency": -1.0},
        {"latency": float("inf")},
    ],
)
def test_knobs_are_validated(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(knobs))):
        VirtualLock(**knobs)


def test_knob_assignment_is_validated() -> None:
    lock = VirtualLock()
    lock.fail_rate = 0.5
    with pytest.raises(ValueError, match="fail_rate"):
        lock.fail_rate = 2.0
    assert lock.fail_rate == 0.5


async def test_latency_is_on_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    lock = VirtualLock(latency=2.5)
    assert trio.current_time() == 0
    await lock.read_slots()
    assert trio.current_time() == 2.5
    assert await lock.set_code(3, Pin(DIGITS)) is WriteResult.CONFIRMED
    assert trio.current_time() == 5.0
    assert await lock.set_code(3, Pin(DIGITS)) is WriteResult.NO_CHANGE
    assert trio.current_time() == 7.5
    assert await lock.clear_code(3) is WriteResult.CONFIRMED
    assert trio.current_time() == 10.0
    await lock.read_slots([1, 2, 3])  # one latency per operation, however many slots
    assert trio.current_time() == 12.5


async def test_zero_latency_is_still_a_checkpoint() -> None:
    lock = VirtualLock()
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await lock.set_code(1, Pin(DIGITS))
    assert lock.codes == {}


async def test_reads_all_slots_or_the_given_ones() -> None:
    lock = VirtualLock(slots=4)
    lock.codes.update({2: DIGITS, 4: "1234"})
    assert await lock.read_slots() == {
        1: SlotCredential.empty(),
        2: SlotCredential.known(DIGITS),
        3: SlotCredential.empty(),
        4: SlotCredential.known("1234"),
    }
    result = await lock.read_slots([4, 2, 2])
    assert list(result) == [2, 4]
    assert result == {2: SlotCredential.known(DIGITS), 4: SlotCredential.known("1234")}
    assert await lock.read_slots([]) == {}
    assert lock.statistics().reads == 3


async def test_masked_reads_are_unreadable_when_present() -> None:
    lock = VirtualLock(slots=3, masked=True)
    lock.codes[2] = DIGITS
    assert await lock.read_slots() == {
        1: SlotCredential.empty(),
        2: SlotCredential.unreadable(),
        3: SlotCredential.empty(),
    }
    assert await lock.set_code(1, Pin("1234")) is WriteResult.CONFIRMED
    assert await lock.read_slots([1]) == {1: SlotCredential.unreadable()}
    assert lock.codes == {1: "1234", 2: DIGITS}


async def test_confirmed_write_stores_the_code() -> None:
    lock = VirtualLock()
    assert await lock.set_code(5, Pin(DIGITS)) is WriteResult.CONFIRMED
    assert lock.codes == {5: DIGITS}
    assert await lock.set_code(5, Pin("1234")) is WriteResult.CONFIRMED
    assert lock.codes == {5: "1234"}
    stats = lock.statistics()
    assert (stats.writes, stats.lost_writes, stats.no_changes) == (2, 0, 0)


async def test_writes_that_never_land_answer_optimistic_and_change_nothing() -> None:
    lock = VirtualLock(write_lands=0.0, seed=1)
    lock.codes[2] = "1234"
    for _ in range(20):
        assert await lock.set_code(1, Pin(DIGITS)) is WriteResult.OPTIMISTIC
        assert await lock.set_code(2, Pin(DIGITS)) is WriteResult.OPTIMISTIC
    assert lock.codes == {2: "1234"}
    stats = lock.statistics()
    assert (stats.writes, stats.lost_writes) == (40, 40)


async def test_optimistic_answers_for_writes_that_land() -> None:
    lock = VirtualLock(optimistic=1.0)
    assert await lock.set_code(1, Pin(DIGITS)) is WriteResult.OPTIMISTIC
    assert lock.codes == {1: DIGITS}
    assert (await lock.read_slots([1]))[1] == SlotCredential.known(DIGITS)
    assert lock.statistics().lost_writes == 0


async def test_no_change_cases() -> None:
    lock = VirtualLock(write_lands=0.0)
    lock.codes[1] = DIGITS
    # Already there: no write, so even a lock whose writes never land says NO_CHANGE.
    assert await lock.set_code(1, Pin(DIGITS)) is WriteResult.NO_CHANGE
    assert await lock.clear_code(2) is WriteResult.NO_CHANGE
    assert lock.codes == {1: DIGITS}
    stats = lock.statistics()
    assert (stats.no_changes, stats.writes, stats.clears) == (2, 0, 0)


async def test_clear_removes_and_confirms() -> None:
    lock = VirtualLock(write_lands=0.0, optimistic=1.0)  # clears are not subject to these
    lock.codes.update({1: DIGITS, 2: "1234"})
    assert await lock.clear_code(1) is WriteResult.CONFIRMED
    assert lock.codes == {2: "1234"}
    assert lock.statistics().clears == 1


async def test_fail_rate_one_raises_and_changes_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = VirtualLock(fail_rate=1.0, latency=1.0)
    lock.codes[2] = "1234"
    with pytest.raises(LockOperationFailed) as info:
        await lock.set_code(1, Pin(DIGITS))
    assert info.value.slot == 1
    assert trio.current_time() == 1.0  # failed after reaching the lock
    with pytest.raises(LockOperationFailed) as clear_info:
        await lock.clear_code(2)
    assert clear_info.value.slot == 2
    with pytest.raises(LockOperationFailed) as read_info:
        await lock.read_slots()
    assert read_info.value.slot is None
    with pytest.raises(LockOperationFailed) as one_read:
        await lock.read_slots([2])
    assert one_read.value.slot == 2
    assert lock.codes == {2: "1234"}
    assert trio.current_time() == 4.0
    stats = lock.statistics()
    assert (stats.failures, stats.reads, stats.writes, stats.clears) == (4, 0, 0, 0)


async def test_offline_lock_raises_disconnected_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = VirtualLock(latency=3.0, fail_rate=1.0)
    lock.codes[2] = "1234"
    lock.online = False
    with pytest.raises(LockDisconnected) as info:
        await lock.set_code(1, Pin(DIGITS))
    assert info.value.slot == 1
    with pytest.raises(LockDisconnected):
        await lock.clear_code(2)
    with pytest.raises(LockDisconnected) as read_info:
        await lock.read_slots()
    assert read_info.value.slot is None
    assert trio.current_time() == 0
    assert lock.codes == {2: "1234"}
    assert lock.statistics().disconnects == 3
    assert lock.statistics().failures == 0
    lock.online = True
    lock.fail_rate = 0.0
    assert await lock.clear_code(2) is WriteResult.CONFIRMED


async def test_going_offline_during_the_latency_raises_disconnected(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = VirtualLock(latency=10.0)
    outcome: list[BaseException] = []

    async def write() -> None:
        try:
            await lock.set_code(1, Pin(DIGITS))
        except LockDisconnected as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        await trio.sleep(4.0)
        lock.online = False
    assert trio.current_time() == 10.0
    assert len(outcome) == 1
    assert lock.codes == {}
    assert lock.statistics().disconnects == 1


async def test_rejected_pin_raises_code_rejected() -> None:
    lock = VirtualLock(rejected=frozenset({DIGITS}))
    lock.codes[3] = "1234"
    with pytest.raises(CodeRejected) as info:
        await lock.set_code(3, Pin(DIGITS))
    assert info.value.slot == 3
    assert str(info.value).startswith("lock rejected the code on slot 3")
    assert DIGITS not in str(info.value) + repr(info.value)
    assert lock.codes == {3: "1234"}
    assert await lock.set_code(3, Pin("5555")) is WriteResult.CONFIRMED
    assert lock.statistics().rejections == 1


@pytest.mark.parametrize("slot", [0, -1, 31, True])
async def test_slot_outside_the_lock_is_a_value_error(
    slot: int, autojump_clock: trio.testing.MockClock
) -> None:
    lock = VirtualLock(latency=1.0)
    lock.online = False  # the arguments are checked first
    with pytest.raises(ValueError, match="slot"):
        await lock.set_code(slot, Pin(DIGITS))
    with pytest.raises(ValueError, match="slot"):
        await lock.clear_code(slot)
    with pytest.raises(ValueError, match="slot"):
        await lock.read_slots([1, slot])
    with pytest.raises(ValueError, match="slot"):
        lock.keypad_set(slot, DIGITS)
    with pytest.raises(ValueError, match="slot"):
        lock.keypad_clear(slot)
    assert trio.current_time() == 0
    assert lock.statistics().disconnects == 0


async def test_a_pin_given_as_slot_is_not_echoed() -> None:
    lock = VirtualLock()
    with pytest.raises(ValueError, match="int") as info:
        await lock.clear_code(DIGITS)  # type: ignore[arg-type]
    assert DIGITS not in str(info.value)


async def test_set_code_needs_a_pin() -> None:
    with pytest.raises(TypeError) as info:
        await VirtualLock().set_code(1, DIGITS)  # type: ignore[arg-type]
    assert DIGITS not in str(info.value)


async def test_concurrent_operations_are_counted(autojump_clock: trio.testing.MockClock) -> None:
    lock = VirtualLock(latency=1.0)
    await lock.read_slots()
    assert lock.statistics().max_in_flight == 1
    async with trio.open_nursery() as nursery:
        for slot in (1, 2, 3):
            nursery.start_soon(lock.set_code, slot, Pin(DIGITS))
    assert trio.current_time() == 2.0
    assert lock.statistics().max_in_flight == 3


async def test_cancelled_operation_changes_nothing(autojump_clock: trio.testing.MockClock) -> None:
    lock = VirtualLock(latency=5.0)
    with trio.move_on_after(2.0):
        await lock.set_code(1, Pin(DIGITS))
    assert trio.current_time() == 2.0
    assert lock.codes == {}
    assert lock.statistics().writes == 0


# -- the door and pushes -----------------------------------------------------------------------


async def test_keypad_changes_are_pushed() -> None:
    lock = VirtualLock(push=True)
    updates = lock.updates()
    lock.keypad_set(3, DIGITS)
    lock.keypad_clear(3)
    assert lock.codes == {}
    assert await updates.__anext__() == SlotUpdate(3, SlotCredential.known(DIGITS))
    assert await updates.__anext__() == SlotUpdate(3, SlotCredential.empty())
    assert lock.statistics().pushes == 2


async def test_masked_lock_pushes_unreadable() -> None:
    lock = VirtualLock(push=True, masked=True)
    updates = lock.updates()
    lock.keypad_set(4, DIGITS)
    assert lock.codes == {4: DIGITS}
    assert await updates.__anext__() == SlotUpdate(4, SlotCredential.unreadable())


async def test_pushes_are_async_iterable() -> None:
    lock = VirtualLock(push=True)
    updates = lock.updates()
    lock.keypad_set(1, DIGITS)
    lock.keypad_set(2, "1234")
    seen = []
    async for update in updates:
        seen.append(update.slot)
        if len(seen) == 2:
            break
    assert seen == [1, 2]


async def test_every_iterator_gets_every_push_from_its_call_on() -> None:
    """``updates()`` is a plural-noun iterator: a fan-out subscription, not a shared queue."""
    lock = VirtualLock(push=True)
    first = lock.updates()
    lock.keypad_set(1, DIGITS)
    second = lock.updates()  # not replayed what came before it
    lock.keypad_set(2, "1234")
    assert [(await first.__anext__()).slot, (await first.__anext__()).slot] == [1, 2]
    assert (await second.__anext__()).slot == 2
    assert lock.statistics().pushes == 2


def test_keypad_validates_the_pin() -> None:
    lock = VirtualLock(push=True)
    with pytest.raises(InvalidPinError):
        lock.keypad_set(1, "12")
    assert lock.codes == {}
    assert lock.statistics().pushes == 0


async def test_no_pushes_without_push() -> None:
    lock = VirtualLock()
    updates = lock.updates()
    lock.keypad_set(3, DIGITS)
    assert lock.codes == {3: DIGITS}
    assert repr(updates) == "<Subscription unread=0 dropped=0>"
    stats = lock.statistics()
    assert (stats.pushes, stats.dropped_pushes) == (0, 0)


async def test_pushes_beyond_the_buffer_drop_the_oldest_and_are_counted() -> None:
    lock = VirtualLock(push=True, slots=VirtualLock.PUSH_BUFFER + 5)
    updates = lock.updates()
    for slot in range(1, VirtualLock.PUSH_BUFFER + 6):
        lock.keypad_set(slot, DIGITS)
    assert len(lock.codes) == VirtualLock.PUSH_BUFFER + 5  # the door still changed every code
    stats = lock.statistics()
    assert (stats.pushes, stats.dropped_pushes) == (VirtualLock.PUSH_BUFFER + 5, 0)
    assert updates.dropped == 5  # the iterator fell behind: its 5 oldest went
    received = [(await updates.__anext__()).slot for _ in range(VirtualLock.PUSH_BUFFER)]
    assert received == list(range(6, VirtualLock.PUSH_BUFFER + 6))
    assert repr(updates) == "<Subscription unread=0 dropped=5>"
    lock.keypad_clear(1)  # room again
    assert await updates.__anext__() == SlotUpdate(1, SlotCredential.empty())


async def test_offline_lock_cannot_push() -> None:
    lock = VirtualLock(push=True)
    updates = lock.updates()
    lock.online = False
    lock.keypad_set(1, DIGITS)  # the door works without the hub
    assert lock.codes == {1: DIGITS}
    assert repr(updates) == "<Subscription unread=0 dropped=0>"
    assert lock.statistics().dropped_pushes == 1


async def test_dropping_an_iterator_does_not_break_pushes() -> None:
    lock = VirtualLock(push=True)
    lock.updates()  # dropped at once
    updates = lock.updates()
    lock.keypad_set(1, DIGITS)
    assert (await updates.__anext__()).slot == 1


# -- determinism and the CONFIRMED invariant ---------------------------------------------------


async def _script(lock: VirtualLock) -> list[object]:
    answers: list[object] = []
    for step in range(60):
        slot = step % 5 + 1
        try:
            if step % 3 == 2:
                answers.append(await lock.clear_code(slot))
            else:
                answers.append(await lock.set_code(slot, Pin(f"{1000 + step}")))
        except LockOperationFailed:
            answers.append("failed")
    answers.append(dict(lock.codes))
    return answers


async def test_same_seed_same_behaviour() -> None:
    knobs: dict[str, Any] = {"write_lands": 0.5, "optimistic": 0.5, "fail_rate": 0.3}
    first = await _script(VirtualLock(seed=42, **knobs))
    assert first == await _script(VirtualLock(seed=42, **knobs))
    assert first != await _script(VirtualLock(seed=43, **knobs))
    assert {"failed", WriteResult.CONFIRMED, WriteResult.OPTIMISTIC} <= set(first[:-1])


pins = st.sampled_from(["1234", "5678", "0000", DIGITS])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(1, 4), pins),
        st.tuples(st.just("clear"), st.integers(1, 4), st.none()),
        st.tuples(st.just("read"), st.integers(1, 4), st.none()),
        st.tuples(st.just("keypad_set"), st.integers(1, 4), pins),
        st.tuples(st.just("keypad_clear"), st.integers(1, 4), st.none()),
        st.tuples(st.just("offline"), st.just(0), st.none()),
        st.tuples(st.just("online"), st.just(0), st.none()),
    ),
    max_size=40,
)
probabilities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1))


@settings(max_examples=200, deadline=None)
@given(
    ops=operations,
    write_lands=probabilities,
    optimistic=probabilities,
    fail_rate=st.sampled_from([0.0, 0.2]),
    masked=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_confirmed_always_means_stored(
    ops: list[tuple[str, int, str | None]],
    write_lands: float,
    optimistic: float,
    fail_rate: float,
    masked: bool,
    seed: int,
) -> None:
    lock = VirtualLock(
        slots=4,
        masked=masked,
        write_lands=write_lands,
        optimistic=optimistic,
        fail_rate=fail_rate,
        latency=0.5,
        seed=seed,
        push=True,
    )

    async def main() -> None:
        for op, slot, digits in ops:
            before = dict(lock.codes)
            started = trio.current_time()
            try:
                if op == "set":
                    assert digits is not None
                    result = await lock.set_code(slot, Pin(digits))
                    if result is WriteResult.CONFIRMED:
                        assert lock.codes[slot] == digits
                    elif result is WriteResult.NO_CHANGE:
                        assert before.get(slot) == digits
                        assert lock.codes == before
                    else:
                        assert result is WriteResult.OPTIMISTIC
                        assert lock.codes.get(slot) in {digits, before.get(slot)}
                    if write_lands == 0.0:
                        assert result is not WriteResult.CONFIRMED
                        assert lock.codes == before
                    if optimistic == 1.0:
                        assert result is not WriteResult.CONFIRMED
                elif op == "clear":
                    result = await lock.clear_code(slot)
                    assert slot not in lock.codes
                    assert result is (
                        WriteResult.CONFIRMED if slot in before else WriteResult.NO_CHANGE
                    )
                elif op == "read":
                    reading = (await lock.read_slots([slot]))[slot]
                    code = lock.codes.get(slot)
                    if code is None:
                        assert reading == SlotCredential.empty()
                    elif masked:
                        assert reading == SlotCredential.unreadable()
                    else:
                        assert reading == SlotCredential.known(code)
                elif op == "keypad_set":
                    assert digits is not None
                    lock.keypad_set(slot, digits)
                elif op == "keypad_clear":
                    lock.keypad_clear(slot)
                else:
                    lock.online = op == "online"
            except LockDisconnected:
                assert not lock.online
                assert lock.codes == before
                assert trio.current_time() == started
            except LockOperationFailed:
                assert fail_rate > 0
                assert lock.codes == before
            if op in {"set", "clear", "read"} and lock.online:
                assert trio.current_time() == started + 0.5

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    stats = lock.statistics()
    assert stats.max_in_flight <= 1
    assert stats.pushes + stats.dropped_pushes == sum(
        1 for op, _, _ in ops if op.startswith("keypad")
    )


# -- lock events (provider-neutral) -----------------------------------------------------------


async def test_keypad_unlock_and_lock_are_lock_events_to_every_iterator(
    autojump_clock: trio.abc.Clock,
) -> None:
    from trio_locksync import EventSource, LockAction, LockEvent
    from trio_locksync.credentials import LockEventProvider

    lock = VirtualLock(slots=4)
    assert isinstance(lock, LockEventProvider)
    first, second = lock.events(), lock.events()
    await trio.sleep(5)
    lock.keypad_unlock(2)
    lock.online = False
    lock.keypad_unlock(3)  # an offline lock's report never arrives
    lock.online = True
    lock.keypad_lock(2)
    with pytest.raises(ValueError, match=r"slots 1\.\.4"):
        lock.keypad_unlock(5)
    expected = [
        LockEvent(LockAction.UNLOCK, EventSource.KEYPAD, 2, "keypad_unlock", 5.0),
        LockEvent(LockAction.LOCK, EventSource.KEYPAD, 2, "keypad_lock", 5.0),
    ]
    for events in (first, second):
        assert [await anext(events) for _ in range(2)] == expected


def test_lock_events_are_one_type_for_every_provider() -> None:
    import trio_locksync
    import trio_locksync.credentials
    from trio_locksync.providers import zigbee2mqtt

    assert zigbee2mqtt.LockEvent is trio_locksync.LockEvent
    assert zigbee2mqtt.LockAction is trio_locksync.LockAction
    assert zigbee2mqtt.EventSource is trio_locksync.EventSource
    assert issubclass(zigbee2mqtt.Zigbee2MqttLock, trio_locksync.credentials.LockEventProvider)
