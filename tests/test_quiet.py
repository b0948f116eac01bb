"""The quiet-window deadline: exact virtual times for quiet, extend, cap and close."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.lowlevel import QuietDeadline, QuietReason, QuietWindow


async def test_silent_window_ends_exactly_quiet_after_opening(
    autojump_clock: trio.abc.Clock,
) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=1.0, cap=10.0)
    assert await window.wait() is QuietReason.QUIET
    assert trio.current_time() == start + 1.0


async def test_activity_with_gaps_below_quiet_holds_until_quiet_after_last(
    autojump_clock: trio.abc.Clock,
) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=1.0, cap=10.0)

    async def burst() -> None:
        for _ in range(5):
            await trio.sleep(0.5)
            window.touch(1.0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(burst)
        assert await window.wait() is QuietReason.QUIET
    assert trio.current_time() == start + 2.5 + 1.0


async def test_constant_activity_ends_exactly_at_cap(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=1.0, cap=10.0)
    ended = trio.Event()

    async def traffic() -> None:
        while not ended.is_set():
            window.touch(1.0)
            await trio.sleep(0.25)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(traffic)
        assert await window.wait() is QuietReason.CAPPED
        assert trio.current_time() == start + 10.0
        ended.set()


async def test_shorter_request_never_pulls_the_deadline_forward(
    autojump_clock: trio.abc.Clock,
) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=5.0, cap=math.inf)
    window.touch(0.1)
    assert window.deadline == start + 5.0
    await trio.sleep(1.0)
    window.touch(10.0)
    assert window.deadline == start + 11.0
    assert await window.wait() is QuietReason.QUIET
    assert trio.current_time() == start + 11.0


async def test_close_ends_the_wait_at_once(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=5.0, cap=50.0)

    async def closer() -> None:
        await trio.sleep(2.0)
        window.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(closer)
        assert await window.wait() is QuietReason.CLOSED
    assert trio.current_time() == start + 2.0
    assert window.is_over


async def test_close_before_wait_returns_closed_immediately(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    window = QuietWindow(quiet=5.0, cap=50.0)
    window.close()
    assert await window.wait() is QuietReason.CLOSED
    assert trio.current_time() == start


async def test_touch_after_the_window_is_over_changes_nothing(
    autojump_clock: trio.abc.Clock,
) -> None:
    window = QuietWindow(quiet=1.0, cap=10.0)
    await trio.sleep(2.0)
    deadline = window.deadline
    window.touch(5.0)
    assert window.deadline == deadline
    assert window.is_over


async def test_wait_only_once(autojump_clock: trio.abc.Clock) -> None:
    window = QuietWindow(quiet=0.0, cap=1.0)
    await window.wait()
    with pytest.raises(RuntimeError):
        await window.wait()


async def test_outer_cancellation_propagates(autojump_clock: trio.abc.Clock) -> None:
    window = QuietWindow(quiet=5.0, cap=10.0)
    with trio.move_on_after(1.0) as scope:
        await window.wait()
    assert scope.cancelled_caught
    assert trio.current_time() == 1.0


def test_negative_values_rejected() -> None:
    with pytest.raises(ValueError):
        QuietDeadline.open(0.0, quiet=-1.0, cap=1.0)
    with pytest.raises(ValueError):
        QuietDeadline.open(0.0, quiet=1.0, cap=-1.0)
    deadline = QuietDeadline.open(0.0, quiet=1.0, cap=1.0)
    with pytest.raises(ValueError):
        deadline.touch(0.5, -1.0)


touches = st.lists(
    st.tuples(st.floats(0, 5, allow_nan=False), st.floats(0, 5, allow_nan=False)), max_size=20
)


@given(st.floats(0, 5), st.floats(0, 20), touches)
def test_deadline_is_latest_request_bounded_by_cap(
    quiet: float, cap: float, activity: list[tuple[float, float]]
) -> None:
    """deadline == min(max(open + quiet, t_i + q_i ...), open + cap), for increasing t_i."""
    window = QuietDeadline.open(100.0, quiet=quiet, cap=cap)
    now = 100.0
    latest = 100.0 + quiet
    for gap, q in activity:
        now += gap
        window.touch(now, q)
        latest = max(latest, now + q)
    assert window.deadline == min(latest, 100.0 + cap)
    assert window.reason_at(99.0) is None
    reason = window.reason_at(window.deadline)
    assert reason is (QuietReason.QUIET if latest <= 100.0 + cap else QuietReason.CAPPED)


async def test_reason_is_the_sync_twin_of_wait(autojump_clock: trio.abc.Clock) -> None:
    """The event stream asks ``reason()`` when a frame arrives, before the waiter has run."""
    start = trio.current_time()
    window = QuietWindow(quiet=1.0, cap=2.0)
    assert window.reason() is None
    await trio.sleep(0.75)
    window.touch(1.0)
    await trio.sleep(0.75)
    assert window.reason() is None  # quiet until 1.75
    window.touch(1.0)  # would be 2.5, capped at 2.0
    await trio.sleep(0.5)
    assert trio.current_time() == start + 2.0
    assert window.reason() is QuietReason.CAPPED
    quiet = QuietWindow(quiet=1.0, cap=10.0)
    await trio.sleep(1.0)
    assert quiet.reason() is QuietReason.QUIET
    closed = QuietWindow(quiet=1.0, cap=10.0)
    closed.close()
    assert closed.reason() is QuietReason.CLOSED
