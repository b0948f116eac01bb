"""The core's pieces of every reconnecting client: the one bounded buffer and the one status
holder (the reconnect policy: tests/test_reconnect_policy.py)."""

from __future__ import annotations

import enum

import pytest
import trio
import trio.testing

from trio_locksync.core import BoundedBuffer, ClosedError, InvalidTransition, Overflow, StatusHolder

# ------------------------------------------------------------------ the bounded buffer


async def test_drop_oldest_keeps_the_latest_and_counts() -> None:
    buffer = BoundedBuffer[int](3)
    assert [buffer.put(i) for i in range(5)] == [True, True, True, False, False]
    assert (buffer.dropped, len(buffer)) == (2, 3)
    assert [await buffer.get() for _ in range(3)] == [2, 3, 4]


async def test_drop_newest_keeps_an_unbroken_prefix() -> None:
    buffer = BoundedBuffer[int](2, Overflow.DROP_NEWEST)
    for i in range(4):
        buffer.put(i)
    assert buffer.dropped == 2
    assert buffer.peek_all() == [0, 1]


async def test_items_that_are_never_dropped_stay_and_the_oldest_droppable_goes() -> None:
    """The MQTT bridge's QoS 1 messages: the broker's window bounds them, a drop would lose one."""
    buffer = BoundedBuffer[str](2)
    buffer.put("kept-1", droppable=False)
    buffer.put("a")
    buffer.put("b")  # full: "a" goes, not "kept-1"
    buffer.put("kept-2", droppable=False)  # past the size: never dropped
    assert buffer.peek_all() == ["kept-1", "b", "kept-2"]
    only_kept = BoundedBuffer[str](1)
    only_kept.put("kept", droppable=False)
    assert only_kept.put("new") is False and only_kept.peek_all() == ["kept"]


async def test_end_drains_then_stops_or_raises_a_fresh_error_each_time() -> None:
    buffer = BoundedBuffer[int](4)
    buffer.put(1)
    buffer.end(lambda: ClosedError("gone"))
    assert buffer.put(2) is False
    assert await buffer.get() == 1
    errors = []
    for _ in range(2):
        with pytest.raises(ClosedError) as caught:
            await buffer.get()
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    plain = BoundedBuffer[int](1)
    plain.end()
    with pytest.raises(StopAsyncIteration):
        await plain.get()


async def test_each_item_goes_to_one_waiting_consumer() -> None:
    buffer = BoundedBuffer[int](10)
    got: list[int] = []

    async def consume() -> None:
        while True:
            try:
                got.append(await buffer.get())
            except StopAsyncIteration:
                return

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(6):
            buffer.put(i)
        buffer.end()
    assert sorted(got) == list(range(6))


async def test_a_cancelled_get_takes_nothing() -> None:
    buffer = BoundedBuffer[int](2)
    buffer.put(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await buffer.get()
    assert len(buffer) == 1


# ------------------------------------------------------------------ the status holder


class St(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    RETRYING = "retrying"
    FAILED = "failed"
    CLOSED = "closed"


TABLE = {
    St.IDLE: frozenset({St.CONNECTING, St.CLOSED}),
    St.CONNECTING: frozenset({St.LIVE, St.RETRYING, St.FAILED, St.CLOSED}),
    St.LIVE: frozenset({St.RETRYING, St.CLOSED}),
    St.RETRYING: frozenset({St.CONNECTING, St.RETRYING, St.CLOSED}),
    St.FAILED: frozenset({St.CLOSED}),
}


def change(previous: St, status: St, at: float, detail: str, connection: int) -> tuple[object, ...]:
    return (previous, status, at, detail, connection)


def holder() -> StatusHolder[St, tuple[object, ...]]:
    return StatusHolder(
        "test client",
        St.IDLE,
        TABLE,
        change=change,
        live=St.LIVE,
        closed_error=lambda statuses: ClosedError(f"closed; never {statuses[0].name}"),
    )


async def test_moves_follow_the_table_and_publish_every_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    status = holder()
    changes = status.changes()
    assert status.move(St.CONNECTING, "go", connection=1) == (St.IDLE, St.CONNECTING, 0.0, "go", 1)
    assert status.move(St.CONNECTING) is None  # no such edge: nothing happened
    status.move(St.RETRYING)
    assert status.move(St.RETRYING, "again") is not None  # the table allows it: a change
    with pytest.raises(InvalidTransition):
        status.move(St.LIVE)
    status.close(St.CLOSED, "bye")
    assert [c[1] async for c in changes] == [St.CONNECTING, St.RETRYING, St.RETRYING, St.CLOSED]


async def test_wait_after_close_raises_the_closed_error_never_hangs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The drift bug: one client's wait_status(CONNECTED) after its block closed waited
    forever while the other raised. One holder: both raise — also a waiter already waiting."""
    status = holder()
    raised: list[BaseException] = []

    async def waiter() -> None:
        with pytest.raises(ClosedError) as caught:
            await status.wait(St.LIVE)
        raised.append(caught.value)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        status.close(St.CLOSED, "block exited")
    assert str(raised[0]) == "closed; never LIVE"
    with pytest.raises(ClosedError):
        await status.wait(St.LIVE)
    assert await status.wait(St.CLOSED) is St.CLOSED


async def test_wait_raises_the_failure_once_the_client_gave_up() -> None:
    status = holder()
    status.move(St.CONNECTING)
    status.move(St.FAILED, "refused")
    status.fail(lambda: ValueError("refused for good"))
    with pytest.raises(ValueError, match="refused for good"):
        await status.wait(St.LIVE)


async def test_stale_since_is_none_only_while_live(autojump_clock: trio.testing.MockClock) -> None:
    await trio.sleep(5)
    status = holder()
    assert status.stale_since == 5.0  # made at 5: stale since then
    await trio.sleep(1)
    status.move(St.CONNECTING)
    assert status.stale_since == 5.0
    status.move(St.LIVE)
    assert status.stale_since is None
    await trio.sleep(10)
    status.move(St.RETRYING)
    assert status.stale_since == 16.0


async def test_an_ended_buffer_still_yields_to_other_tasks() -> None:
    """A loop over an ended iterator must not starve the run (every get is a schedule point)."""
    buffer = BoundedBuffer[int](1)
    buffer.end()
    other_ran = trio.Event()

    async def other() -> None:
        other_ran.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        for _ in range(1000):
            with pytest.raises(StopAsyncIteration):
                await buffer.get()
            if other_ran.is_set():
                break
    assert other_ran.is_set()
