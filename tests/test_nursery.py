"""open_service_nursery: one error comes out as itself, several as a group."""

from __future__ import annotations

import pytest
import trio

from trio_locksync import LockSyncError
from trio_locksync.core import open_service_nursery


async def test_body_error_is_raised_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with open_service_nursery():
            raise KeyError("body")


async def test_lone_task_error_is_raised_unwrapped_with_its_cause() -> None:
    async def fails() -> None:
        try:
            raise OSError("disk")
        except OSError as exc:
            raise LockSyncError("wrapped") from exc

    with pytest.raises(LockSyncError) as info:
        async with open_service_nursery() as nursery:
            nursery.start_soon(fails)
            await trio.sleep_forever()
    assert isinstance(info.value.__cause__, OSError)


async def test_several_errors_stay_a_group() -> None:
    async def fails(exc: Exception) -> None:
        raise exc

    with pytest.RaisesGroup(KeyError, ValueError):
        async with open_service_nursery() as nursery:
            nursery.start_soon(fails, KeyError())
            nursery.start_soon(fails, ValueError())


async def test_outer_cancellation_is_absorbed_by_its_scope() -> None:
    with trio.move_on_after(0.01) as scope:
        async with open_service_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_a_group_the_body_raises_comes_out_intact() -> None:
    """Only the nursery's own wrapper is removed: the user's groups are theirs to handle."""
    with pytest.RaisesGroup(pytest.RaisesGroup(ValueError), match="mine"):
        async with open_service_nursery():
            raise ExceptionGroup("mine", [ExceptionGroup("inner", [ValueError()])])


async def test_keyboard_interrupt_comes_out_as_itself() -> None:
    with pytest.raises(KeyboardInterrupt):
        async with open_service_nursery():
            raise KeyboardInterrupt
