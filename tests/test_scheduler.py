"""DeadlineScheduler: exact firing times, cancellation up to the moment a call runs, closing."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from trio_locksync.lowlevel import DeadlineScheduler, InvalidTransition, ScheduledCallState


async def test_fires_after_delay(autojump_clock: trio.abc.Clock) -> None:
    times: list[float] = []

    async def fn() -> None:
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        for deadline in (5.0, 1.0, 3.0):
            scheduler.call_at(deadline, fn)
        await trio.sleep(10)
        assert times == [1.0, 3.0, 5.0]
        nursery.cancel_scope.cancel()


async def test_earlier_call_pulls_the_sleep_in(autojump_clock: trio.abc.Clock) -> None:
    times: list[float] = []

    async def fn() -> None:
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        scheduler.call_at(100.0, fn)
        await trio.sleep(1)
        scheduler.call_at(2.0, fn)  # the loop is asleep until 100: this must wake it at 2
        await trio.sleep(200)
        assert times == [2.0, 100.0]
        nursery.cancel_scope.cancel()


async def test_cancel_before_fire_prevents_call(autojump_clock: trio.abc.Clock) -> None:
    ran: list[int] = []

    async def fn() -> None:
        ran.append(1)

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        call = scheduler.call_at(5.0, fn)
        assert scheduler.pending == 1
        assert call.cancel()
        assert call.cancel()  # idempotent
        assert call.state is ScheduledCallState.CANCELLED
        assert scheduler.pending == 0
        await trio.sleep(10)
        await call.wait_done()
        nursery.cancel_scope.cancel()
    assert ran == []


async def test_cancel_wins_race_when_run_not_yet_started(autojump_clock: trio.abc.Clock) -> None:
    """#671: the deadline passed and the call's task was started, but it has not run yet."""
    ran: list[int] = []

    async def fn() -> None:
        ran.append(1)

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        call = scheduler.call_at(0.0, fn)
        scheduler._start_due(trio.current_time())  # dispatched
        assert call.state is ScheduledCallState.PENDING
        assert call.cancel()
        await trio.testing.wait_all_tasks_blocked()
    assert ran == []
    assert call.state is ScheduledCallState.CANCELLED


async def test_cancel_of_running_call_fails_and_wait_done_waits(
    autojump_clock: trio.abc.Clock,
) -> None:
    gate = trio.Event()
    done: list[float] = []

    async def fn() -> None:
        await gate.wait()
        done.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        call = scheduler.call_at(1.0, fn)
        await trio.sleep(2)
        assert call.state is ScheduledCallState.RUNNING
        assert scheduler.running() == [call]
        assert not call.cancel()

        async def release() -> None:
            await trio.sleep(3)
            gate.set()

        nursery.start_soon(release)
        await call.wait_done()
        assert trio.current_time() == 5.0
        assert call.finished
        nursery.cancel_scope.cancel()
    assert done == [5.0]


async def test_negative_delay_runs_at_once(autojump_clock: trio.abc.Clock) -> None:
    times: list[float] = []

    async def fn() -> None:
        times.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        await trio.sleep(10)
        scheduler.call_at(-5.0, fn)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert times == [10.0]


async def test_running_call_is_shielded_until_close_grace(autojump_clock: trio.abc.Clock) -> None:
    outcome: list[str] = []

    async def slow() -> None:
        try:
            await trio.sleep(100)
            outcome.append("finished")
        except trio.Cancelled:
            outcome.append(f"cancelled at {trio.current_time()}")
            raise

    async def quick() -> None:
        await trio.sleep(2)
        outcome.append("quick finished")

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        scheduler.call_at(0.0, slow)
        scheduler.call_at(0.0, quick)
        never = scheduler.call_at(50.0, slow)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()  # the owner is cancelled: running calls are shielded
        with trio.CancelScope(shield=True):
            await scheduler.close(grace=5)
    assert sorted(outcome) == ["cancelled at 6.0", "quick finished"]
    assert never.state is ScheduledCallState.PENDING  # left for its owner to decide
    with pytest.raises(InvalidTransition):
        scheduler.call_at(1.0, slow)


async def test_heap_compacts_when_calls_are_rearmed(autojump_clock: trio.abc.Clock) -> None:
    async def fn() -> None:
        pass  # pragma: no cover

    async with trio.open_nursery() as nursery:
        scheduler = DeadlineScheduler(nursery)
        nursery.start_soon(scheduler.run)
        call = scheduler.call_at(7200.0, fn)
        for n in range(10_000):  # re-armed 10,000 times without ever firing
            call.cancel()
            call = scheduler.call_at(7200.0 + n, fn)
        assert scheduler.pending == 1
        assert len(scheduler._heap) <= 130
        nursery.cancel_scope.cancel()


def test_nan_deadline_rejected() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            with pytest.raises(ValueError):
                DeadlineScheduler(nursery).call_at(math.nan, trio.sleep_forever)

    trio.run(main)
