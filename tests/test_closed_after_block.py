"""An engine or a plan used after its ``async with`` block ended raises its ClosedError, and so
does a call still waiting when the block ends (a task in an outer nursery): nothing hangs.
Virtual time throughout; the plan's file is written inline on the trio thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.accesshelpers import clock
from tests.storehelpers import inline_store, run_inline
from trio_locksync import ClosedError, LockSyncClosedError, VirtualLock, open_lock_sync
from trio_locksync.access import AccessPlanClosed, Grant, open_access_plan
from trio_locksync.credentials import SyncState

Seen = dict[str, tuple[float, str]]


async def outcome(label: str, fn: Callable[[], Awaitable[object]], seen: Seen) -> None:
    """Await ``fn()`` and record when and how it ended."""
    try:
        await fn()
    except ClosedError as error:
        seen[label] = (trio.current_time(), type(error).__name__)
    else:
        seen[label] = (trio.current_time(), "returned")


async def drain(changes: AsyncIterator[Any]) -> int:
    return sum([1 async for _ in changes])


async def test_a_waiter_outside_the_engines_block_gets_closed_error_when_it_ends(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=10, latency=5.0, seed=1)  # the first read takes 0-5
    seen: Seen = {}
    with trio.fail_after(60):  # a hang fails the test (virtual time)
        async with trio.open_nursery() as nursery:
            async with open_lock_sync(lock, {1: "1234"}, operation_spacing=0) as engine:
                changes = engine.changes()
                nursery.start_soon(outcome, "wait", engine.wait_settled, seen)
                nursery.start_soon(outcome, "changes", lambda: drain(changes), seen)
                await trio.sleep(1)
            assert engine.state(1) is SyncState.LOADING  # not settled when the block ended
    assert seen == {"wait": (1, "LockSyncClosedError"), "changes": (1, "returned")}


async def test_an_engine_refuses_every_change_after_its_block(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = VirtualLock(slots=10, seed=1)
    async with open_lock_sync(lock, {1: "1234", 2: None}, operation_spacing=0) as engine:
        await engine.wait_settled()
    calls: dict[str, Callable[[], object]] = {
        "set_desired": lambda: engine.set_desired(1, pin="5678"),
        "take": lambda: engine.take(3, "9999"),
        "release": lambda: engine.release(2),
    }
    for name, call in calls.items():
        with pytest.raises(LockSyncClosedError, match=f"{name}\\(\\) not performed") as caught:
            call()
        assert isinstance(caught.value, trio.ClosedResourceError)
        assert "5678" not in str(caught.value) and "9999" not in str(caught.value)
    with trio.fail_after(60):  # a hang fails the test (virtual time)
        with pytest.raises(LockSyncClosedError, match="wait_settled"):
            await engine.wait_settled()
        assert await drain(engine.changes()) == 0  # ends at once
    # what it knew stays readable, and nothing changed
    assert (engine.slots, engine.state(1), engine.state(2)) == (
        [1, 2], SyncState.IN_SYNC, SyncState.IN_SYNC,
    )  # fmt: skip
    assert dict(lock.codes) == {1: "1234"}


async def test_a_plan_waiter_outside_the_plans_block_gets_closed_error_when_it_ends(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The plan ends while its engine goes on: the plan's waiter does not wait for the engine."""
    lock = VirtualLock(slots=10, latency=5.0, seed=1)
    seen: Seen = {}
    async with (
        inline_store(tmp_path / "credentials.json") as store,
        open_lock_sync(lock, {}, store=store, operation_spacing=0) as engine,
    ):
        with trio.fail_after(60):  # a hang fails the test (virtual time)
            async with (
                trio.open_nursery() as nursery,
                open_access_plan(
                    tmp_path / "access.json", {"front": engine}, now=clock, run_blocking=run_inline
                ) as plan,
            ):
                await plan.grant(Grant("alice", "1357"))  # surveys 1-4: 0-5
                changes = plan.changes()
                nursery.start_soon(outcome, "wait", plan.wait_settled, seen)  # writes 5-10
                nursery.start_soon(outcome, "changes", lambda: drain(changes), seen)
                await trio.sleep(1)
        assert seen == {"wait": (6, "AccessPlanClosed"), "changes": (6, "returned")}
        for call in (
            plan.wait_settled,
            lambda: plan.grant(Grant("bob", "2468")),
            lambda: plan.revoke("alice"),
            lambda: plan.clear_unmanaged("front", 5),
        ):
            with pytest.raises(AccessPlanClosed):
                await call()
        assert await drain(plan.changes()) == 0
        await engine.wait_settled()  # the engine was not closed with the plan
        assert dict(lock.codes) == {1: "1357"}
